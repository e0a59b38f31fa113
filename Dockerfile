# botmm in a container: `botmm run` with its status server on port 8787 (docs/operations.md).
#   docker build -t botmm .
#   docker run -d --name botmm -p 127.0.0.1:8787:8787 -e BOTMM_STATUS_TOKEN=<token> \
#       -e HL_PRIVATE_KEY=<key> -v "$PWD/outputs:/bot/outputs" botmm exchange=hl_testnet asset=eth
# Arguments after the image name are Hydra overrides of `botmm run`; without any it paper-trades the synthetic demo.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 BOTMM_STATUS_PORT=8787
WORKDIR /src
# setup.py compiles the core where a C compiler is at hand; the slim image has none, so it installs pure Python
COPY pyproject.toml setup.py README.md ./
COPY botmm ./botmm
COPY plugins ./plugins
COPY conf ./conf
COPY hydra_plugins ./hydra_plugins
RUN pip install . && rm -rf /src

# outputs/ (results, fills, logs) lands in /bot; mount it to keep them
WORKDIR /bot
RUN useradd --create-home --uid 10001 bot && chown bot /bot
USER bot
EXPOSE 8787
# The container's port must listen beyond its loopback, so the token is required (set BOTMM_STATUS_TOKEN).
# Unhealthy = stale market data or unconfirmed orders for longer than a few checks: see /healthz's reason.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 CMD python -c "import os, urllib.request as r; \
r.urlopen(r.Request('http://127.0.0.1:8787/healthz', headers={'Authorization': 'Bearer ' + \
os.environ['BOTMM_STATUS_TOKEN']}), timeout=4)"
# SIGTERM (docker stop) cancels every order before the process exits; give it the time to do so
STOPSIGNAL SIGTERM
ENTRYPOINT ["botmm", "run", "server.host=0.0.0.0"]
CMD []
