/**
 * What an API key's id and secret look like: the catalog makes them (`key_` and 8 random bytes
 * in hex; `sk_` and 32 random bytes in unpadded base64url), and the router refuses anything
 * of another shape before it asks the catalog about it.
 */

export const KEY_ID_BYTES = 8;
export const SECRET_BYTES = 32;

const KEY_ID_SHAPE = /^key_[0-9a-f]{16}$/;
const SECRET_SHAPE = /^sk_[A-Za-z0-9_-]{43}$/;

export function isKeyIdShaped(id: string): boolean {
  return KEY_ID_SHAPE.test(id);
}

export function isSecretShaped(token: string): boolean {
  return SECRET_SHAPE.test(token);
}
