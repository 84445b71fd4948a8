# syntax=docker/dockerfile:1
#
# ctsync's container image: a static binary on distroless, run as non-root.
#
#   docker build -t ctsync .
#   docker run --rm -v $PWD/config.toml:/etc/ctsync/config.toml:ro ctsync validate -c /etc/ctsync/config.toml
#
# The Go version follows go.mod's `go` line (internal/packaging checks it).
# Pin the image by digest (golang:1.26-bookworm@sha256:...) in your own
# pipeline if you need reproducible rebuilds; a tag keeps patch releases coming.
ARG GO_VERSION=1.26

# The build runs on the builder's own platform and cross-compiles (buildx
# sets TARGETOS/TARGETARCH), so multi-arch images need no emulation: the
# binary is pure Go.
FROM --platform=$BUILDPLATFORM golang:${GO_VERSION}-bookworm AS build
ARG TARGETOS=linux
ARG TARGETARCH=amd64
# go build stamps the VCS state when .git is there; in a git worktree (.git
# is a file pointing outside the context) it cannot: --build-arg BUILDVCS=false.
ARG BUILDVCS=auto
WORKDIR /src
# Modules first: this layer is reused until go.mod or go.sum change.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
# The whole tree, .git included: go build stamps the module version and the
# VCS revision into the binary's build info, which `ctsync_build_info`
# reports. .dockerignore leaves out only what git ignores too, so the tree
# is not seen as modified ("-dirty").
COPY . .
# CGO_ENABLED=0: a static binary that needs no libc in the final image.
# -trimpath: no build machine paths in the binary. -s -w: no symbol table or
# DWARF (stack traces keep their function names and lines).
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -buildvcs=$BUILDVCS -ldflags='-s -w' -o /out/ctsync ./cmd/ctsync

# distroless/static: CA certificates (Graph and Entra are HTTPS), tzdata,
# /etc/passwd with the nonroot user, and no shell or package manager.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/ctsync /ctsync
# 65532 is distroless's "nonroot"; numeric so that Kubernetes'
# runAsNonRoot can verify it without reading /etc/passwd.
USER 65532:65532
# [worker] listen: metrics, /livez, /readyz, the status page, POST /sync.
# In a container it must be listen = "0.0.0.0:9464" to be reachable.
EXPOSE 9464
ENTRYPOINT ["/ctsync"]
CMD ["run", "-c", "/etc/ctsync/config.toml"]
