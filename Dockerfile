# l7lb on a slim Python image. Mount your configuration at /etc/l7lb/l7lb.toml.
FROM python:3.11-slim AS build
# a C compiler for the mypyc build of the per-request modules (docs/operations.md)
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md ./
COPY l7lb ./l7lb
COPY tools ./tools
RUN pip install --no-cache-dir "mypy>=1.10" "setuptools>=68" wheel . \
    && python tools/build_native.py \
    && pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
RUN useradd --system --home-dir /nonexistent --shell /usr/sbin/nologin l7lb
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
COPY policies/demo.toml /etc/l7lb/l7lb.toml
EXPOSE 8080
# binding ports below 1024 as a non-root user needs CAP_NET_BIND_SERVICE (docker run --cap-add)
USER l7lb
ENTRYPOINT ["l7lb"]
CMD ["run", "-c", "/etc/l7lb/l7lb.toml"]
