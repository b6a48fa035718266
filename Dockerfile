# l7lb on a slim Python image, with the hot path compiled (docs/operations.md, "Docker").
#
#   docker build -t l7lb .
#   docker run --rm -p 8080:8080 -p 8443:8443 l7lb       # the demo, on its own
#   docker run -d --network host -v /etc/l7lb:/etc/l7lb:ro l7lb run -c /etc/l7lb/l7lb.toml
#
# The default command is `l7lb demo` on docker/demo.toml: three realservers inside the
# container behind l7lb on 8080 (HTTP) and 8443 (HTTPS, a self-signed certificate made at the
# first start in /var/lib/l7lb/certs). tests/packaging/test_dockerfile.py runs the final
# stage's files, user, working directory and command on the host.

FROM python:3.11-slim AS build
# a C compiler: the package build compiles the hot path with mypyc (setup.py)
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml setup.py MANIFEST.in README.md ./
COPY tools/build_native.py ./tools/
COPY l7lb ./l7lb
# l7lb's wheel (compiled here) and the wheels of its dependencies
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
COPY --from=build /wheels /wheels
# refuse to make an image that would run the slow path: the build falls back to pure Python
# with a warning, this line turns that into an error
RUN pip install --no-cache-dir --no-index --find-links /wheels l7lb && rm -rf /wheels \
    && l7lb --version && l7lb --version | grep -q "hot path compiled with mypyc"
# owned by l7lb: /var/lib/l7lb, the working directory (the demo writes its certificate
# there), and /run/l7lb, for admin_socket = "/run/l7lb/admin.sock"
RUN useradd --system --no-create-home --home-dir /var/lib/l7lb --shell /usr/sbin/nologin l7lb \
    && install -d -o l7lb -g l7lb /var/lib/l7lb /run/l7lb
COPY docker/demo.toml /etc/l7lb/demo.toml
WORKDIR /var/lib/l7lb
EXPOSE 8080 8443
USER l7lb
ENTRYPOINT ["l7lb"]
CMD ["demo", "-c", "/etc/l7lb/demo.toml"]
