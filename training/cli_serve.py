"""`train serve MODEL...`: the web page and JSON API (training/serve/), on uvicorn."""
from __future__ import annotations

import ipaddress
import logging
import socket
from contextlib import ExitStack

import click

from db.cli import UserError, catalog_options, user_errors
from training.cli_common import LazyCatalog, load_ensemble
from training.inference import TTA_MODES


def _bind(host: str, port: int) -> socket.socket:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise UserError(f"--host {host}: {exc.strerror or exc}") from None
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        hint = " (another server is there: choose another with --port, or --port 0 for any free one)" \
            if exc.errno in (98, 48) else ""
        raise UserError(f"cannot listen on {host}:{port}: {exc.strerror or exc}{hint}") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


@click.command(
    "serve",
    epilog="""\b
Examples:
  train serve models/fer                          # http://127.0.0.1:8000/
  train serve models/s0 models/s1 models/s2 --port 8080      # an ensemble
  curl --data-binary @photo.jpg http://127.0.0.1:8000/predict
  curl -F image=@photo.jpg 'http://127.0.0.1:8000/predict?explain=1'
\b
The page takes a photo (chosen or dropped), shows it with each face boxed and labeled, and each
face's probabilities as bars, optionally with its Grad-CAM explanation; the JSON API is described
on it. Faces are found and classified as `train predict` does (the same extractor and
preprocessing), the models are loaded once. Bad input gets a clear answer and the server stays
up: not an image (415), over the pixel cap of extraction or the upload limit (413), no face (200,
no faces), a body that does not arrive in time (408), headers trickled in (the connection is
closed). It listens on 127.0.0.1 unless --host says otherwise; there is no authentication.
""",
)
@click.version_option(package_name="facecat")
@click.argument("models", nargs=-1, required=True, metavar="MODEL...")
@catalog_options
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to listen on (0.0.0.0: every one).")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="0: any free port.")
@click.option("--tta", "tta", is_flag=False, flag_value="flip", default="none", type=click.Choice(TTA_MODES),
              metavar="[flip|flip+shifts]", help="Average over the face and its mirror (--tta), or also shifted copies.")
@click.option("--max-upload-mb", type=click.FloatRange(min=0.01), default=20.0, show_default=True,
              help="The largest request body accepted.")
@click.option("--body-timeout", type=click.FloatRange(min=0.1), default=30.0, show_default=True, metavar="SECONDS",
              help="An upload must have arrived within this many seconds.")
@click.option("--header-timeout", type=click.FloatRange(min=0.1), default=10.0, show_default=True, metavar="SECONDS",
              help="A request's headers must have arrived within this many seconds.")
@click.option("--max-connections", type=click.IntRange(min=1), default=100, show_default=True,
              help="More at once are answered 503.")
@user_errors
def serve_command(models, catalog_location, store, host, port, tta, max_upload_mb, body_timeout, header_timeout,
                  max_connections) -> None:
    """Serve MODEL (several: an ensemble) as a web page and a JSON API."""
    import uvicorn

    from training.serve.app import create_app
    from training.serve.predictor import Limits, Predictor
    from training.serve.protocol import guarded_h11

    with ExitStack() as stack:
        ens = load_ensemble(models, LazyCatalog(catalog_location, store, stack))
    limits = Limits(max_body=int(max_upload_mb * 2**20), body_timeout_s=body_timeout, header_timeout_s=header_timeout,
                    max_connections=max_connections)
    predictor = Predictor(ens, tta, limits)
    predictor.warm()
    sock = _bind(host, port)
    bound_host, bound_port = sock.getsockname()[:2]
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    config = uvicorn.Config(create_app(predictor), http=guarded_h11(header_timeout), log_level="warning",
                            access_log=False, lifespan="off", timeout_keep_alive=5, limit_concurrency=max_connections,
                            h11_max_incomplete_event_size=64 * 1024, server_header=False)
    server = uvicorn.Server(config)
    if not _is_loopback(bound_host):
        click.echo(f"note: listening on {host}: other machines can reach it (there is no authentication)", err=True)
    click.echo(f"serving {ens.name} ({len(ens.classes)} classes) at http://{shown}:{bound_port}/  (Ctrl-C stops)",
               err=False)
    logging.getLogger("uvicorn.error").setLevel(logging.WARNING)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
