#!/usr/bin/env bash
# The development CA for update bundles: made on first use, then reused; prints its
# folder. Never for devices in the field (docs/updates.md: a production key).
#
#   image/dev-ca.sh            -> DIR with ca.cert.pem (the keyring the image trusts),
#                                 signing.cert.pem and signing.key.pem (what
#                                 image/bundle.sh signs with, issued by the CA)
#
# DIR is VITRINE_RAUC_DEV_CA, else $VITRINE_CI_CACHE/rauc-dev-ca (default
# /var/cache/vitrine-ci/rauc-dev-ca). Made under flock, so that parallel builds agree on
# one CA. The keys stay on this machine: they are never part of the repository.
set -euo pipefail
cache="${VITRINE_CI_CACHE:-/var/cache/vitrine-ci}"
dir="${VITRINE_RAUC_DEV_CA:-$cache/rauc-dev-ca}"
mkdir -p "$(dirname "$dir")"
exec 9>"$dir.lock"
flock 9
if [ ! -f "$dir/.complete" ]; then
  rm -rf "$dir.new"
  mkdir -p "$dir.new"
  chmod 700 "$dir.new"
  cd "$dir.new"
  # RAUC checks the signer's certificate against the keyring's CA, with the usual X.509
  # rules: the CA must say it is one, the signer must be allowed to sign (digitalSignature).
  cat >openssl.cnf <<'EOF'
[req]
distinguished_name = dn
prompt = no
[dn]
O = Vitrine development
CN = Vitrine development CA (not for devices in the field)
[ca_ext]
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[signer_ext]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
    -config openssl.cnf -extensions ca_ext -keyout ca.key.pem -out ca.cert.pem 2>/dev/null
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -subj "/O=Vitrine development/CN=Vitrine development bundle signer" \
    -keyout signing.key.pem -out signing.csr.pem 2>/dev/null
  openssl x509 -req -in signing.csr.pem -CA ca.cert.pem -CAkey ca.key.pem -CAcreateserial \
    -days 3650 -extfile openssl.cnf -extensions signer_ext -out signing.cert.pem 2>/dev/null
  rm -f signing.csr.pem
  touch .complete
  cd /
  rm -rf "$dir"
  mv "$dir.new" "$dir"
fi
echo "$dir"
