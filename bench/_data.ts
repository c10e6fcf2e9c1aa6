/** What the benchmarks share: the secret and the session data of the hot-path and HTTP cases (≈ 400 B of JSON). */
export const SECRET = "bench-secret-0123456789-abcdefghijklmnop";

export const DATA = {
  userId: "u_1234567890",
  cart: ["sku-1", "sku-2", "sku-3", "sku-4", "sku-5"],
  prefs: { theme: "dark", lang: "en-GB", tz: "Europe/London", currency: "GBP" },
  csrf: "3f1c2a9b8d7e6f5a4b3c2d1e0f9a8b7c",
  visits: 42,
  flags: { beta: true, newsletter: false, onboarding: "done" },
  recent: ["/products/1", "/products/2", "/cart", "/checkout", "/account/orders/2024"],
};
