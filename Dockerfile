# The snapsim image the README's Kubernetes Job names: Debian bookworm-slim
# with the package CPack makes. Build the package, then the image, with the
# build directory as the context:
#   scripts/build.sh build -DCMAKE_BUILD_TYPE=Release && (cd build && cpack -G DEB)
#   docker build -f Dockerfile -t your-registry/snapsim:latest build
# Process workloads mount FUSE: run the container with --device /dev/fuse
# --cap-add SYS_ADMIN (or privileged).
FROM debian:bookworm-slim
COPY snapsim_*_amd64.deb /tmp/
RUN apt-get update \
 && apt-get install -y --no-install-recommends /tmp/snapsim_*_amd64.deb \
 && rm -rf /var/lib/apt/lists/* /tmp/snapsim_*_amd64.deb
ENTRYPOINT ["snapsim"]
