# Container image for the Helm chart (charts/pms-sync): a static-enough Rust binary on a small,
# non-root base. Not built in CI (no container engine there): `docker build -t pms-sync .`
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --bin pms-sync

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/pms-sync /usr/local/bin/pms-sync
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/pms-sync"]
CMD ["controller"]
