#!/bin/bash
# WIPO, "Hague Web Services" introduction (2021), APPENDIX A: Client for OpenSSL key
# pair generation -- "Generate artifacts for WIPO OIDC enrolment", as printed.
#
# Source: shared/spec/wipo-hws-introduction-2021.md, Appendix A. Run it in an empty
# working folder: it writes its files (and ./openssl.cnf) into the current directory.
#
# Changes from the document (nothing else is changed; the document's own spellings,
# e.g. OPENSLL_CONF, are kept):
#   1. The three assignments under "# Set the environment" take the environment's value
#      when one is given (PRIVATE_KEY_ES256=${PRIVATE_KEY_ES256:-hague4offices_private.pem},
#      etc.); the defaults are the document's values. The appendix itself is not garbled.
#   2. This header comment.

# Set the environment
PRIVATE_KEY_ES256=${PRIVATE_KEY_ES256:-hague4offices_private.pem}
PUBLIC_KEY_ES256=${PUBLIC_KEY_ES256:-hague4offices_public.pem}
CLIENT_NAME=${CLIENT_NAME:-DAS}

# Generates the ES256 keys
openssl ecparam -genkey -name prime256v1 -noout -out "${PRIVATE_KEY_ES256}"

# Extracts the public key
openssl ec -in "${PRIVATE_KEY_ES256}" -pubout -out "${PUBLIC_KEY_ES256}"

# Generates an x509 certificate
CERT_KEY_ES256=es256_cert.pem
OPENSLL_CONF=./openssl.cnf
CERT_CN="${CLIENT_NAME} private_key_jwt authentication"

# Build the certificate config file
printf '[ req ]\n' > "${OPENSLL_CONF}"
printf 'prompt = no\n' >> "${OPENSLL_CONF}"
printf 'distinguished_name = req_distinguished_name\n' >> "${OPENSLL_CONF}"
printf '[ req_distinguished_name ]\n' >> "${OPENSLL_CONF}"
printf 'CN = %s\n' "${CERT_CN}" >> "${OPENSLL_CONF}"

# Creates the x509 certificate
openssl req -x509 -new -config "${OPENSLL_CONF}" -key "${PRIVATE_KEY_ES256}" -out "${CERT_KEY_ES256}"
