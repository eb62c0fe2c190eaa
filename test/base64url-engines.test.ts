/**
 * The two base64url decoders (Node's `Buffer` behind the strict checks, and the portable one for
 * runtimes without `Buffer`) give the same answer for every string: the same bytes, or both
 * `undefined`. The strictness tests elsewhere run on the native one (this is Node); this file
 * holds both to one behaviour.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  decodeBase64url,
  decodeBase64urlNative,
  decodeBase64urlPortable,
  encodeBase64url,
  encodeBase64urlString,
} from '../src/core/base64url.js'

const native = (input: string) => decodeBase64urlNative(input, Buffer)
const bytesOf = (value: Uint8Array | undefined) => (value === undefined ? undefined : [...value])

// Strings near the alphabet: its characters, the standard alphabet's '+' '/', padding, spaces,
// dots, controls, and characters beyond ASCII.
const near = fc
  .array(
    fc.oneof(
      {
        weight: 8,
        arbitrary: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'),
      },
      {
        weight: 1,
        arbitrary: fc.constantFrom('+', '/', '=', ' ', '.', '\n', '\u0000', 'é', '\uff21', '\u{1F600}'),
      },
    ),
    { maxLength: 40 },
  )
  .map((chars) => chars.join(''))

describe('base64url: native and portable decoders agree', () => {
  it('on strings near the alphabet', () => {
    fc.assert(
      fc.property(near, (input) => {
        expect(bytesOf(native(input))).toEqual(bytesOf(decodeBase64urlPortable(input)))
      }),
      { numRuns: 5000 },
    )
  })

  it('on any string', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 24 }), (input) => {
        expect(bytesOf(native(input))).toEqual(bytesOf(decodeBase64urlPortable(input)))
      }),
      { numRuns: 3000 },
    )
  })

  it('on every encoding of random bytes, and on each with its last character changed', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.nat(63), (bytes, replacement) => {
        const encoded = encodeBase64url(bytes)
        expect(bytesOf(native(encoded))).toEqual([...bytes])
        expect(bytesOf(decodeBase64urlPortable(encoded))).toEqual([...bytes])
        if (encoded.length === 0) return
        const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
        const changed = encoded.slice(0, -1) + alphabet[replacement]
        expect(bytesOf(native(changed))).toEqual(bytesOf(decodeBase64urlPortable(changed)))
      }),
      { numRuns: 3000 },
    )
  })

  it('refuses what the lenient platform decoder accepts', () => {
    for (const input of [
      'eyJhIjoxfR',
      'eyJhIjoxfQ==',
      'eyJh Ijox',
      'eyJh+Ijox',
      'eyJh/Ijox',
      'A',
      'AB',
      'eyJhIjoxfQ\n',
    ]) {
      expect(Buffer.from(input, 'base64url').length).toBeGreaterThanOrEqual(0)
      expect(native(input)).toBeUndefined()
      expect(decodeBase64urlPortable(input)).toBeUndefined()
    }
  })

  it('encodes any string as the portable encoder does, lone surrogates included', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 64 }), (text) => {
        expect(encodeBase64urlString(text)).toBe(encodeBase64url(new TextEncoder().encode(text)))
      }),
      { numRuns: 3000 },
    )
    expect(encodeBase64urlString('\ud800x')).toBe(encodeBase64url(new TextEncoder().encode('\ud800x')))
  })

  it('decodeBase64url uses the native decoder on Node', () => {
    const decoded = decodeBase64url('eyJhIjoxfQ')
    expect(Buffer.isBuffer(decoded)).toBe(true)
    expect(new TextDecoder().decode(decoded)).toBe('{"a":1}')
  })
})
