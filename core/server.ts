/**
 * Store-backed sessions: finding a record, creating one, saving it with compare-and-set, merging
 * this request's changes onto what concurrent requests saved, moving a record to a new key
 * (`cycleKey()`, and secret rotation) without losing or resurrecting anything, and ending it.
 *
 * The rules, for every store that can compare-and-set (every store but Cloudflare KV):
 *
 * - A save carries the version the request loaded. When another request saved meanwhile, the save
 *   fails, the fresh record is read, and this request's changes are replayed onto it: plain writes
 *   are set again, `session.modify()` functions are re-run on the fresh value. Different keys
 *   therefore always merge. A key this request *read and then wrote* (`get` then `set`, or an
 *   in-place change flagged with `modified = true`) whose stored value changed in between is a
 *   conflict: `SESSION_CONFLICT` (409) under `conflicts: "error"`, this request's value under
 *   `"last-write-wins"`. Retries are bounded and jittered.
 * - A record is retired (after `cycleKey()` or a move to the current secret's key) by a
 *   compare-and-set save of an already expired record (a tombstone) at the version this request
 *   knows. A write that reached the old record after that version is carried over into the new
 *   record first; a write that arrives later fails (`SESSION_INTERRUPTED`, or a conflict that
 *   finds the record gone). If the old record was deleted (a concurrent logout), the new record is
 *   deleted too and the request fails with `SESSION_INTERRUPTED`: a logout always wins.
 * - A concurrent move of the same record to the same new key is success, not `SESSION_EXISTS`.
 *
 * @module
 */
import { SessionError, interrupted } from "./errors.ts";
import type { StoreOperation } from "./errors.ts";
import { newSessionId } from "./id.ts";
import type { Config, SessionEvent } from "./options.ts";
import { DELETED } from "./session.ts";
import type { SessionState } from "./session.ts";
import { Signer, toHex } from "./signing.ts";
import type { KeyRing } from "./signing.ts";
import type { LoadedRecord, SessionRecord, SessionStore, Version } from "./types.ts";

/** What the store-backed half needs from the engine. */
export interface Kit {
  readonly config: Config;
  /** Run a store call; `sensitive` lists what a failure's message must not contain (asked only on failure). */
  call<R>(operation: StoreOperation, op: () => Promise<R>, sensitive?: () => string[], ms?: number): Promise<R>;
  emit(type: SessionEvent["type"], reason?: SessionEvent["reason"]): void;
  record(data: Map<string, unknown>, created: number, expiry: number | string | undefined, now: number): SessionRecord;
  parse(text: string): Map<string, unknown> | null;
  /** A comparable text for one value (`null` when absent). */
  encode(key: string, value: unknown): string;
}

const CREATE_ATTEMPTS = 10;
/** Compare-and-set attempts before a save gives up with `SESSION_CONFLICT`: enough for 16+ concurrent writers. */
const SAVE_ATTEMPTS = 40;
const ABSENT = Symbol("absent");

/** Wait a random 0..min(64, 2^attempt) ms, so writers that collided do not collide again in step. */
function backoff(attempt: number): Promise<void> {
  const cap = Math.min(64, 2 ** attempt);
  const ms = (crypto.getRandomValues(new Uint8Array(1))[0]! / 256) * cap;
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function conflict(): SessionError {
  return new SessionError("SESSION_CONFLICT", "The session was changed by a concurrent request: a key this request read and then wrote changed meanwhile.");
}

/** Re-run `session.modify()` functions on a fresh value; a function that throws on it is a conflict. */
function replay(fns: readonly ((current: unknown) => unknown)[], current: unknown): unknown {
  try {
    for (const fn of fns) current = fn(current);
  } catch (error) {
    throw new SessionError("SESSION_CONFLICT", "A modify() function failed when re-applied to the value a concurrent request saved.", { cause: error });
  }
  return current === undefined ? DELETED : current;
}

/** A dead record: saved at a version, it ends the record for everyone still holding that version. */
function tombstone(now: number): SessionRecord {
  return { data: "", expires: 1, created: 0, active: now };
}

/**
 * What a failed store call's message must not contain: the key, the id and the session's values
 * (a driver may quote a parameter). Built only when a call fails.
 */
function sensitive(key: string, s?: SessionState, record?: SessionRecord): () => string[] {
  return () => {
    const list = [key];
    if (s?.id) list.push(s.id);
    if (record) list.push(record.data);
    if (s) {
      for (const value of s.data.values()) {
        if (typeof value === "string") list.push(value);
        else if (value !== null && value !== undefined) {
          try {
            const text = JSON.stringify(value);
            if (typeof text === "string" && text.length <= 4096) list.push(text);
          } catch {
            // Not JSON: nothing a driver could have quoted.
          }
        }
      }
    }
    return list;
  };
}

/** Store-backed sessions for one `createSessions()`. */
export class ServerSessions {
  #kit: Kit;
  #store: SessionStore;
  #hasher: Signer | null;
  #secrets: number;

  constructor(kit: Kit, store: SessionStore, ring: KeyRing) {
    this.#kit = kit;
    this.#store = store;
    this.#hasher = store.rawIds ? null : new Signer(ring, "store-key");
    this.#secrets = ring.size;
  }

  /** Import the id-hashing keys now. */
  async ready(): Promise<void> {
    await this.#hasher?.keys();
  }

  /** The store key of `id` under secret `index` (the id itself for stores with raw ids). */
  async key(id: string, index = 0): Promise<string> {
    if (!this.#hasher) return id;
    return toHex(this.#hasher.macSync(id, index) ?? await this.#hasher.mac(id, index));
  }

  /** The live record of `id`, tried under each secret's key; `null` when there is none. */
  async find(id: string, now: number): Promise<{ record: LoadedRecord; key: string; index: number } | null> {
    const store = this.#store;
    const tries = this.#hasher ? this.#secrets : 1;
    for (let index = 0; index < tries; index++) {
      const key = await this.key(id, index);
      const record = await this.#kit.call("load", () => store.load(key, now), () => [key, id]);
      if (record) return { record, key, index };
    }
    return null;
  }

  /** Delete a record, for an ended session found at load. */
  async drop(key: string): Promise<void> {
    const store = this.#store;
    await this.#kit.call("delete", () => store.delete(key), () => [key]);
  }

  /** Insert the session under a fresh id, retrying on collision (Django's `create`). */
  async create(s: SessionState, now: number): Promise<void> {
    const store = this.#store;
    const record = this.#kit.record(s.data, s.created, s.expiry, now);
    for (let attempt = 0; attempt < CREATE_ATTEMPTS; attempt++) {
      const id = newSessionId();
      const key = await this.key(id);
      try {
        const version = await this.#kit.call("create", () => store.create(key, record), sensitive(key, s, record));
        s.id = id;
        s.storeKey = key;
        s.keyIndex = 0;
        s.version = version ?? undefined;
        s.live = true;
        s.active = now;
        s.base = record.data;
        this.#kit.emit("session.created");
        return;
      } catch (error) {
        if (!(error instanceof SessionError && error.code === "SESSION_EXISTS")) throw error;
      }
    }
    throw new SessionError("STORE_UNAVAILABLE", "Unable to create a new session key: the store reports every new key as taken");
  }

  /** Write a live session back: compare-and-set, merging onto concurrent saves; moves it first when found under an old secret. */
  async save(s: SessionState, now: number): Promise<void> {
    if (s.keyIndex > 0) {
      await this.#rekey(s, now);
      return;
    }
    await this.#saveLoop(s, now, s.data, s.version, s.created, s.expiry);
  }

  async #saveLoop(
    s: SessionState,
    now: number,
    data: Map<string, unknown>,
    version: Version | undefined,
    created: number,
    expiry: number | string | undefined,
  ): Promise<void> {
    const store = this.#store;
    const key = s.storeKey!;
    for (let attempt = 0; ; attempt++) {
      const record = this.#kit.record(data, created, expiry, now);
      try {
        const next = await this.#kit.call("save", () => store.save(key, record, version), sensitive(key, s, record));
        s.version = next ?? undefined;
        s.data = data;
        s.created = created;
        s.expiry = expiry;
        s.active = now;
        s.base = record.data;
        return;
      } catch (error) {
        if (!(error instanceof SessionError && error.code === "SESSION_CONFLICT") || attempt + 1 >= SAVE_ATTEMPTS) throw error;
      }
      this.#kit.emit("session.conflict");
      await backoff(attempt);
      const fresh = await this.#kit.call("load", () => store.load(key, now), sensitive(key, s));
      if (!fresh) throw interrupted();
      data = this.merge(s, fresh.data);
      version = fresh.version;
      created = fresh.created;
      expiry = s.expiryChanged ? s.expiry : fresh.expiry;
    }
  }

  /** This request's changes replayed onto `freshText`; throws `SESSION_CONFLICT` for a lost read-modify-write under `conflicts: "error"`. */
  merge(s: SessionState, freshText: string): Map<string, unknown> {
    const kit = this.#kit;
    const fresh = kit.parse(freshText) ?? new Map<string, unknown>();
    const original = s.base === null ? new Map<string, unknown>() : kit.parse(s.base) ?? new Map<string, unknown>();
    const text = (map: Map<string, unknown>, key: string): string => (map.has(key) ? kit.encode(key, map.get(key)) : "");
    if (s.cleared && kit.config.conflicts === "error") {
      // clear() then save: wiping keys another request changed since this one loaded is a conflict.
      for (const key of new Set([...original.keys(), ...fresh.keys()])) {
        if (text(original, key) !== text(fresh, key)) throw conflict();
      }
    }
    const strict = kit.config.conflicts === "error" && !s.cleared;
    const merged = s.cleared ? new Map<string, unknown>() : new Map(fresh);
    for (const [key, change] of s.changes) {
      let value: unknown = change;
      const replays = s.replays.get(key);
      if (replays) {
        value = replay(replays, merged.get(key));
      } else if (strict && (s.observed === null || s.observed.has(key))) {
        // Changed meanwhile: even to the value this request writes (two increments of 0 both write 1).
        // Deleting a key that is gone already is no conflict; consuming it with pop() is.
        const idempotent = value === DELETED && !fresh.has(key) && !s.popped.has(key);
        if (!idempotent && text(fresh, key) !== text(original, key)) throw conflict();
      }
      if (value === DELETED) merged.delete(key);
      else merged.set(key, value);
    }
    if (s.manual) {
      // `modified = true` after an in-place change: write the keys whose value differs from what was loaded.
      const keys = s.readKeys ?? new Set([...s.data.keys(), ...original.keys()]);
      for (const key of keys) {
        if (s.changes.has(key)) continue;
        const before = text(original, key);
        const ours = text(s.data, key);
        if (ours === before) continue;
        if (strict && text(fresh, key) !== before) throw conflict();
        if (s.data.has(key)) merged.set(key, s.data.get(key));
        else merged.delete(key);
      }
    }
    return merged;
  }

  /** Store the session under the current secret's key of the same id, then retire the old record. */
  /** Returns the old key when another request is moving the record (and will retire it), else `null`. */
  async #rekey(s: SessionState, now: number): Promise<string | null> {
    const store = this.#store;
    const oldKey = s.storeKey!;
    const oldVersion = s.version;
    const oldBase = s.base;
    const key = await this.key(s.id!);
    const record = this.#kit.record(s.data, s.created, s.expiry, now);
    let moved = true;
    try {
      const version = await this.#kit.call("create", () => store.create(key, record));
      s.version = version ?? undefined;
      s.active = now;
      s.storeKey = key;
      s.keyIndex = 0;
      s.base = record.data;
    } catch (error) {
      if (!(error instanceof SessionError && error.code === "SESSION_EXISTS")) throw error;
      // A concurrent request moved it first: save onto its copy like any concurrent save.
      moved = false;
      const fresh = await this.#kit.call("load", () => store.load(key, now));
      if (!fresh) throw interrupted();
      s.storeKey = key;
      s.keyIndex = 0;
      await this.#saveLoop(s, now, this.merge(s, fresh.data), fresh.version, fresh.created, s.expiryChanged ? s.expiry : fresh.expiry);
      // The request that created the new record retires the old one; doing it here too would make
      // that request mistake the old record's absence for a logout.
      return oldKey;
    }
    await this.#retire(s, oldKey, oldVersion, oldBase, moved, now);
    return null;
  }

  /** `cycleKey()`: the same data under a new id; the old record retired at the version this request knows. */
  async cycle(s: SessionState): Promise<void> {
    const now = this.#kit.config.now();
    const live = s.live && s.storeKey !== null;
    // Found under an old secret's key: move it to the current key first (a concurrent request may
    // be doing the same), so that the id is retired under the one key everyone uses.
    let moving: string | null = null;
    if (live && s.keyIndex > 0) moving = await this.#rekey(s, now);
    const oldKey = s.storeKey;
    const oldVersion = s.version;
    const oldBase = s.base;
    await this.create(s, now);
    if (live) await this.#retire(s, oldKey!, oldVersion, oldBase, true, now);
    // Another request is still moving the pre-login record off the old secret's key: end that copy
    // too, so the old id cannot be found through the fallback secret (that request then fails).
    if (moving !== null) await this.#kit.call("delete", () => this.#store.delete(moving), () => [moving]);
    this.#kit.emit("session.cycled");
  }

  /**
   * End the old record of a move. `moved`: this request created the new record, so it must
   * not outlive an old record that a logout deleted.
   */
  async #retire(
    s: SessionState,
    oldKey: string,
    oldVersion: Version | undefined,
    oldBase: string | null,
    moved: boolean,
    now: number,
  ): Promise<void> {
    const store = this.#store;
    const kit = this.#kit;
    let version = oldVersion;
    let base = oldBase;
    try {
      if (version === undefined) {
        // A store without compare-and-set (Cloudflare KV): nothing better than a delete.
        await kit.call("delete", () => store.delete(oldKey));
        return;
      }
      for (let attempt = 0; ; attempt++) {
        let gone = false;
        try {
          await kit.call("save", () => store.save(oldKey, tombstone(now), version));
          break;
        } catch (error) {
          if (error instanceof SessionError && error.code === "SESSION_INTERRUPTED") gone = true;
          else if (!(error instanceof SessionError && error.code === "SESSION_CONFLICT") || attempt + 1 >= SAVE_ATTEMPTS) throw error;
        }
        const fresh = gone ? null : await kit.call("load", () => store.load(oldKey, now));
        if (!fresh) {
          // Only the request that created the new record retires the old one, so the old record
          // gone means a logout deleted it (and deletes the new key next): the session is over.
          if (moved) throw interrupted();
          return;
        }
        // Someone wrote to the old record after this request read it: carry that into the new one.
        await this.#carry(s, base, fresh.data, now);
        version = fresh.version;
        base = fresh.data;
      }
    } catch (error) {
      if (moved) await kit.call("delete", () => store.delete(s.storeKey!)).catch(() => {});
      if (moved) {
        s.live = false;
        s.id = null;
      }
      throw error;
    }
    await kit.call("delete", () => store.delete(oldKey)).catch(() => {});
  }

  /** Apply what changed between `baseText` and `freshText` of the old record onto the new record. */
  async #carry(s: SessionState, baseText: string | null, freshText: string, now: number): Promise<void> {
    const kit = this.#kit;
    const store = this.#store;
    const before = baseText === null ? new Map<string, unknown>() : kit.parse(baseText) ?? new Map<string, unknown>();
    const after = kit.parse(freshText) ?? new Map<string, unknown>();
    const delta = new Map<string, unknown>();
    for (const key of new Set([...before.keys(), ...after.keys()])) {
      const a = before.has(key) ? kit.encode(key, before.get(key)) : "";
      const b = after.has(key) ? kit.encode(key, after.get(key)) : "";
      if (a !== b) delta.set(key, after.has(key) ? after.get(key) : ABSENT);
    }
    if (delta.size === 0) return;
    const key = s.storeKey!;
    for (let attempt = 0; ; attempt++) {
      const current = await kit.call("load", () => store.load(key, now));
      if (!current) throw interrupted();
      const data = kit.parse(current.data) ?? new Map<string, unknown>();
      for (const [name, value] of delta) {
        const replays = s.replays.get(name);
        if (replays) {
          // This request's modify() functions, re-run on the other request's value.
          const next = replay(replays, value === ABSENT ? undefined : value);
          if (next === DELETED) data.delete(name);
          else data.set(name, next);
          continue;
        }
        // Both changed it and the other request landed first: this request's value stays, and
        // if this request had read the key first, that is a lost read-modify-write.
        let ours = false;
        let observed = false;
        if (s.changes.has(name)) {
          ours = true;
          observed = s.observed === null || s.observed.has(name);
        } else if (s.manual) {
          // Changed in place (modified = true): compare with what this request loaded.
          const mine = s.data.has(name) ? kit.encode(name, s.data.get(name)) : "";
          const loaded = before.has(name) ? kit.encode(name, before.get(name)) : "";
          ours = observed = mine !== loaded;
        }
        if (ours) {
          if (observed && kit.config.conflicts === "error") throw conflict();
          continue;
        }
        if (value === ABSENT) data.delete(name);
        else data.set(name, value);
      }
      const record = kit.record(data, current.created, current.expiry, now);
      try {
        const next = await kit.call("save", () => store.save(key, record, current.version));
        s.version = next ?? undefined;
        s.data = data;
        s.base = record.data;
        return;
      } catch (error) {
        if (!(error instanceof SessionError && error.code === "SESSION_CONFLICT") || attempt + 1 >= SAVE_ATTEMPTS) throw error;
      }
      await backoff(attempt);
    }
  }

  /**
   * Logout: delete the record. During a secret rotation a record found under an old secret's key
   * may be being moved to the current key by a concurrent request, so both keys are deleted, the
   * old one first (a move that has not yet retired the old record then fails and undoes itself).
   */
  async end(s: SessionState): Promise<void> {
    const store = this.#store;
    const keys = [s.storeKey!];
    if (s.keyIndex > 0 && s.id !== null) {
      for (let index = 0; index < this.#secrets; index++) if (index !== s.keyIndex) keys.push(await this.key(s.id, index));
    }
    for (const key of keys) await this.#kit.call("delete", () => store.delete(key), sensitive(key, s));
    this.#kit.emit("session.flushed");
  }

  /** Refresh the last-activity time of an unchanged session (idle timeout), best effort. */
  async touch(s: SessionState, now: number): Promise<void> {
    const store = this.#store;
    const key = s.storeKey!;
    try {
      const fresh = this.#kit.record(s.data, s.created, s.expiry, now);
      const next = await this.#kit.call("save", () => store.save(key, fresh, s.version), sensitive(key, s, fresh));
      s.version = next ?? undefined;
      s.active = now;
    } catch {
      // A conflict means another request just wrote (and so recorded activity); a vanished
      // record means the session ended. Neither should fail a read-only request.
    }
  }

  /** Django's `clearsessions`. */
  async clearExpired(now: number): Promise<number> {
    const store = this.#store;
    if (typeof store.clearExpired !== "function") {
      throw new TypeError("Session store doesn't support clearing expired sessions.");
    }
    // A sweep of a large store may take long: no request is waiting on it, so no timeout.
    return await this.#kit.call("clearExpired", () => store.clearExpired!(now), undefined, 0);
  }
}
