#!/bin/bash
# WIPO, "Hague Web Services" introduction (2021), APPENDIX C: Snippet to get an Access
# Token from WIPO Dev OpenAM -- corrected only where the document's text is garbled.
#
# Source: shared/spec/wipo-hws-introduction-2021.md, Appendix C. It prints the token
# endpoint's JSON answer on stdout (the discovery curl's progress meter goes to stderr).
#
# Corrections, each one to text the document's extraction garbled (nothing else changed:
# no jti -- JWT_ID is set and never used, as printed --, "typ": "JWT", aud = the
# discovered token_endpoint, exp = now + 10 s, unquoted expansions, and the DER -> raw
# r||s conversion through `openssl asn1parse` + sed + xxd are all the document's):
#   1. Variables: the four hard-coded assignments at the top take the environment's value
#      when one is given (PRIVATE_KEY_ES256=${PRIVATE_KEY_ES256:-es256_private.pem}, ...);
#      the defaults are the document's values.
#   2. JSON payload construction: the document prints `JSON='{` ... `JSON=${JSON}{'`
#      with no commas between members. Restored as JSON='{' / members separated by
#      commas / JSON=${JSON}'}'. The members are written without a blank after the
#      colon ('"iss":"%s",' instead of the printed '"iss": "%s"'): the document's own
#      next step, `printf $JSON` (unquoted), word-splits the payload and would print
#      only `{"iss":` if it held blanks, so the working original cannot have had them.
#   3. `tr -d` <newline> `'\n='` (header line) joined: `tr -d '\n='`.
#   4. `| openssl` <newline> `dgst -sha256 ...` joined: `| openssl dgst -sha256 ...`.
#   5. `sed -n '/INTEGER/p'` <newline> `| sed ...` joined (a line may not start with |).
#   6. `sed 's/. *INTEGER\s*://g'` -> `sed 's/.*INTEGER\s*://g'`: a blank was inserted
#      into `.*`. As printed, the expression removes only `: INTEGER   :` and leaves the
#      asn1parse offsets and lengths ("2:d=1 hl=2 l= 32 prim") in front of the hex, whose
#      digits survive the next sed, so no signature could ever verify.
#   7. `tr -d '\n='` <newline> `| tr '+/' '-_'` (signature line) joined.
#   8. `$JSON_PAYLOAD_B64` <newline> `$JSON_SIGNATURE_B64)` joined with a blank.
#   9. The comment "(because of the" <newline> "proxy...)" joined into one comment line.
#  10. `client-assertion-` <newline> `type:jwt-bearer` joined (no blank).
#  11. This header comment.
PRIVATE_KEY_ES256=${PRIVATE_KEY_ES256:-es256_private.pem}
CLIENT_ID=${CLIENT_ID:-das-api-auth}
SCOPE=${SCOPE:-"das-api/das-access"}
ISSUER=${ISSUER:-"https://logindev.wipo.int/am/oauth2"}

# https://logindev.wipo.int/am/oauth2/.well-known/openid-configuration
OIDC_CONFIG_JSON=$(curl -k "${ISSUER}/.well-known/openid-configuration")

# Generic way to obtain the token endpoint
TOKEN_ENDPOINT=$(printf '%s' ${OIDC_CONFIG_JSON} | jq -r ".token_endpoint")
UTC_TIME=$(date -u +%s)
EXP_TIME=$(expr "$UTC_TIME" + 10)
JWT_ID=Unlqu3i0

JSON='{'
JSON=${JSON}$(printf '"iss":"%s",' ${CLIENT_ID})
JSON=${JSON}$(printf '"sub":"%s",' ${CLIENT_ID})
JSON=${JSON}$(printf '"aud":"%s",' ${TOKEN_ENDPOINT})
JSON=${JSON}$(printf '"exp":%s' ${EXP_TIME})
JSON=${JSON}'}'

JSON_HEADER_B64=$(printf '{"alg": "ES256", "typ": "JWT"}' | jq -cj | base64 -w0 | tr -d '\n=' | tr '+/' '-_')

JSON_PAYLOAD_B64=$(printf $JSON | jq -cj | base64 -w0 | tr -d '\n=' | tr '+/' '-_')

JSON_SIGNATURE_ASN1_B64=$(printf '%s.%s' $JSON_HEADER_B64 $JSON_PAYLOAD_B64 | openssl dgst -sha256 -sign "${PRIVATE_KEY_ES256}" | openssl asn1parse -inform DER | base64 -w0)
JSON_SIGNATURE_HEX=$(printf $JSON_SIGNATURE_ASN1_B64 | base64 -d | sed -n '/INTEGER/p' | sed 's/.*INTEGER\s*://g' | sed -z 's/[^0-9A-F]//g')
JSON_SIGNATURE_B64=$(printf $JSON_SIGNATURE_HEX | xxd -p -r | base64 -w0 | tr -d '\n=' | tr '+/' '-_')

JWT_ASSERTION=$(printf '%s.%s.%s' $JSON_HEADER_B64 $JSON_PAYLOAD_B64 $JSON_SIGNATURE_B64)

# echo $JWT_ASSERTION
# Access token private_key_jwt
# --insecure is only needed when testing within WIPO premises (because of the proxy...)
curl \
--header "Content-Type: application/x-www-form-urlencoded" \
--data-urlencode "grant_type=client_credentials" \
--data-urlencode "scope=${SCOPE}" \
--data-urlencode "client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer" \
--data-urlencode "client_assertion=${JWT_ASSERTION}" \
--url "${TOKEN_ENDPOINT}"
