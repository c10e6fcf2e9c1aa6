/**
 * `SessionObject` with two extra routes for the checks, so they can look at what the object
 * really stores: `/__test/inspect` (stored keys and the alarm) and `/__test/alarm` (run the
 * alarm handler now, then inspect). Everything else goes to the real class unchanged.
 */
import { SessionObject } from "../../stores/durable_object.ts";
import type { DurableObjectStateLike, DurableObjectStorageLike } from "../../stores/durable_object.ts";

interface InspectableStorage extends DurableObjectStorageLike {
  list(): Promise<Map<string, unknown>>;
  getAlarm(): Promise<number | null>;
}

/** What `/__test/inspect` answers. */
export interface Inspection {
  keys: string[];
  alarm: number | null;
}

export class TestSessionObject extends SessionObject {
  readonly #storage: InspectableStorage;

  constructor(state: DurableObjectStateLike, env?: unknown) {
    super(state, env);
    this.#storage = state.storage as InspectableStorage;
  }

  override async fetch(request: Request): Promise<Response> {
    const path = new URL(request.url).pathname;
    if (path === "/__test/alarm") await this.alarm();
    if (path === "/__test/inspect" || path === "/__test/alarm") {
      const inspection: Inspection = {
        keys: [...(await this.#storage.list()).keys()].sort(),
        alarm: await this.#storage.getAlarm(),
      };
      return Response.json(inspection);
    }
    return super.fetch(request);
  }
}

/** The same class under another name, bound with the legacy key-value storage backend. */
export class TestSessionObjectKv extends TestSessionObject {}
