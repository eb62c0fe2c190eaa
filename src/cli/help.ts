/**
 * The text of `--help` for each command (docs/command-line.md says the same at length).
 * @module
 */

const KEY_OPTIONS = `Key (the first that applies):
  --key-file <file>    a PEM key, a JWK or JWK-set JSON file, or a file holding an HMAC secret
  (environment)        JWT_SECRET_KEY, JWT_PRIVATE_KEY, JWT_PUBLIC_KEY, JWT_ALGORITHM, as AuthX.fromEnv
  --alg <alg>          the algorithm, instead of the key's own or JWT_ALGORITHM
Other JWT_* settings (JWT_ENCODE_ISSUER, JWT_ACCESS_TOKEN_EXPIRES, ...) apply as in AuthX.fromEnv.`

const COMMON = `  --json               machine-readable output (errors too: {"code","message"} on stderr)
  -h, --help           this help`

/** Help of each command, by its name. */
export const HELP: Record<string, string> = {
  authx: `Usage: authx <command> [options]

Keys and tokens for authx at the command line.

Commands:
  keygen               a new key: an HMAC secret, or a private key (PEM or JWK)
  token create         sign a token
  token decode         show a token's header and claims WITHOUT verifying it
  token verify         verify a token and show its claims
  dpop proof           a DPoP proof for one request, signed with a client key
  dpop thumbprint      the thumbprint (jkt) of a client key
  jwks                 the public JWK set of a key, for /.well-known/jwks.json

Options:
  --version            the version of authx
  -h, --help           this help; authx <command> --help for a command's

Exit codes: 0 success, 1 an invalid or expired token, 2 a usage or configuration error.
A token argument of - is read from stdin.`,

  keygen: `Usage: authx keygen [--alg HS256] [--kid <kid>] [--format pem|jwk] [--out <file>]

A new key. HS256/384/512: a random secret (base64url text, 32/48/64 random bytes). RS*/PS*
(2048-bit RSA), ES256/384/512, EdDSA (Ed25519): the private key, as PKCS#8 PEM or a private JWK
with kid (RFC 7638 thumbprint unless --kid) and alg.

Options:
  --alg <alg>          the algorithm [JWT_ALGORITHM, else HS256]
  --format pem|jwk     how to write the key [pem; an HMAC secret is text unless jwk]
  --kid <kid>          the key id (with --format jwk)
  --out <file>         write the private key or secret to a new file (mode 0600; an existing file
                       is never overwritten) and the public key to stdout
${COMMON}`,

  token: `Usage: authx token <create|decode|verify> [options]

  token create         sign a token (authx token create --help)
  token decode         show a token without verifying it (authx token decode --help)
  token verify         verify a token (authx token verify --help)`,

  'token create': `Usage: authx token create --sub <uid> [--type access|refresh] [--fresh] [--scopes a,b]
                         [--data '<json>'] [--expires 1h] [--iss <iss>] [--aud <aud>]
                         [--token-types jwt|explicit|rfc9068]

Signs a token and prints it, and nothing else.

Options:
  --sub <uid>          the subject (required)
  --type access|refresh  [access]
  --fresh              a fresh access token
  --scopes a,b         the scopes claim
  --data '<json>'      custom claims, a JSON object
  --expires <duration> lifetime: seconds or 30s, 15m, 1h, 7d, 2w [JWT_ACCESS/REFRESH_TOKEN_EXPIRES, else 15m / 20d]
  --iss <iss>          the issuer [JWT_ENCODE_ISSUER]
  --aud <a,b>          the audience [JWT_ENCODE_AUDIENCE]
  --token-types <mode> jwt: typ JWT; explicit or rfc9068: typ at+jwt or refresh+jwt
                       [JWT_TOKEN_TYPES, else jwt]
${KEY_OPTIONS}
${COMMON}`,

  'token decode': `Usage: authx token decode <token|->

Shows the header and claims WITHOUT verifying anything, with iat, nbf and exp as ISO dates and
"expires in ..." / "expired ... ago". Needs no key. Exit 1 for a malformed token.

Options:
${COMMON}`,

  'token verify': `Usage: authx token verify <token|-> [--type access|refresh] [--iss <iss>] [--aud <aud>]
                         [--token-types jwt|explicit|rfc9068]

Verifies signature, algorithm, structure, exp/nbf/iat, issuer, audience and type (not
revocation: the command line has no store). Valid: the claims on stdout, exit 0. Invalid: one
line on stderr starting with the error code (ERR_INVALID_TOKEN: ...), exit 1.

Options:
  --type access|refresh  the expected type [access]
  --iss <iss>          the expected issuer [JWT_DECODE_ISSUER, JWT_ENCODE_ISSUER]
  --aud <a,b>          the accepted audience(s) [JWT_DECODE_AUDIENCE, JWT_ENCODE_AUDIENCE]
  --token-types <mode> the typ headers required: jwt (none; the type claim decides),
                       explicit (at+jwt, refresh+jwt), or rfc9068 (explicit, and RFC 9068
                       access tokens of another issuer; needs --iss and --aud)
                       [JWT_TOKEN_TYPES, else jwt]
${KEY_OPTIONS}
${COMMON}`,

  dpop: `Usage: authx dpop <proof|thumbprint> [options]

  dpop proof           a DPoP proof for one request (authx dpop proof --help)
  dpop thumbprint      the RFC 7638 thumbprint of a client key (authx dpop thumbprint --help)`,

  'dpop proof': `Usage: authx dpop proof --key-file <file> --htm <method> --htu <url> [--token <token|->]
                       [--nonce <nonce>] [--alg <alg>]

Prints a DPoP proof (RFC 9449) for one request, and nothing else: send it as the DPoP header,
with Authorization: DPoP <token>. A proof is single-use and lasts about a minute.

Options:
  --key-file <file>    the client's private key: PEM or a private JWK (authx keygen --alg ES256)
  --htm <method>       the request's method (GET, POST, ...)
  --htu <url>          the request's URL (the query and fragment are left out, as RFC 9449 says)
  --token <token|->    the access token the request carries (its hash goes in ath); - reads stdin
  --nonce <nonce>      the server's nonce (its DPoP-Nonce header)
  --alg <alg>          the algorithm, instead of the key's usual one (ES256 for P-256, ...)
${COMMON}`,

  'dpop thumbprint': `Usage: authx dpop thumbprint --key-file <file>

Prints the RFC 7638 SHA-256 thumbprint of the client's key: the jkt a login binds tokens to.

Options:
  --key-file <file>    the client's private key: PEM or a private JWK
${COMMON}`,

  jwks: `Usage: authx jwks [--key-file <file>]

The public JWK set of the key(s), with kid, alg and use: never private or secret material
(an HMAC key gives an empty set).

Options:
${KEY_OPTIONS}
${COMMON}`,
}
