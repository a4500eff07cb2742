# The pms-sync image: a statically linked pms-sync and a CA bundle, FROM scratch, run as 65532.
#
# Nothing is pulled from a registry and nothing is compiled in here: `scripts/image.sh` builds the
# static binary (x86_64-unknown-linux-gnu, crt-static, rustls, a pure-Rust DNS resolver) and stages
# the build context in target/image/, then builds this file offline with `buildah bud`:
#
#   scripts/image.sh build                                  # buildah (Debian's), no daemon
#   scripts/image.sh context && docker build -f Dockerfile target/image    # or with Docker
#
# The image holds two files. Host names resolve through /etc/resolv.conf (the kubelet mounts it)
# without libc's resolver; TLS trusts /etc/ssl/certs/ca-certificates.crt, or SSL_CERT_FILE.
FROM scratch
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY pms-sync /usr/local/bin/pms-sync
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/pms-sync"]
CMD ["controller"]
