"""The `train serve` web app (Starlette): the page, its static files and the JSON API.

    GET  /          the page: upload or drop a photo; each face boxed and labeled, its probabilities
                    as bars, optionally its explanation (Grad-CAM); the API documented below it
    POST /predict   an image (the raw bytes as the body, or multipart form field "image") ->
                    {"faces": [{"bbox", "label", "confidence", "probabilities"}, ...], ...};
                    ?explain=1 adds each face's Grad-CAM overlay (?class=NAME: for that class),
                    ?crops=1 each face's aligned crop (both as PNG data URLs)
    GET  /api       the models, classes and limits
    GET  /health    {"ok": true}

Every refusal is a JSON {"error": "..."} with its status: 400 (no image, a bad query), 408 (the body
did not arrive in time), 413 (the body or the image is too large), 415 (not an image); an unknown
path is 404 and a wrong method 405, in the same shape. The body
is read here, against a size limit and a deadline (uvicorn buffers none of it for us); slow
headers are the protocol's business (training/serve/protocol.py).
"""
from __future__ import annotations

import asyncio
import html
import json
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from training.colours import class_colours
from training.serve.predictor import BadImage, Predictor

HERE = Path(__file__).parent
TRUE = ("1", "true", "yes", "on")


async def read_body(request: Request, limit: int, timeout_s: float) -> bytes:
    """The request body, refused past `limit` bytes or when it has not all arrived within timeout_s."""
    length = request.headers.get("content-length")
    if length is not None:
        if not length.isdigit():
            raise BadImage(400, "Content-Length is not a number")
        if int(length) > limit:
            raise BadImage(413, f"the upload is {int(length):,} bytes; the limit is {limit:,}")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    chunks, size = [], 0
    stream = request.stream().__aiter__()
    while True:
        left = deadline - loop.time()
        try:
            if left <= 0:
                raise asyncio.TimeoutError
            chunk = await asyncio.wait_for(stream.__anext__(), left)
        except StopAsyncIteration:
            break
        except asyncio.TimeoutError:
            raise BadImage(408, f"the upload did not arrive within {timeout_s:g} s ({size:,} bytes came)") from None
        size += len(chunk)
        if size > limit:
            raise BadImage(413, f"the upload is over the limit of {limit:,} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def image_bytes(request: Request, body: bytes) -> tuple[bytes, str]:
    """The image of a request: the body itself, or the form field "image" (or the only file) of
    a multipart form."""
    ctype = request.headers.get("content-type", "")
    if not ctype.startswith("multipart/form-data"):
        return body, request.query_params.get("name", "upload")

    async def replay():
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        form = await Request(request.scope, replay).form(max_files=1, max_fields=20)
    except Exception as exc:  # Starlette's MultiPartException and the parser's own errors
        raise BadImage(400, f"the form cannot be read: {exc}") from None
    upload = form.get("image")
    if upload is None or isinstance(upload, str):
        files = [v for _, v in form.multi_items() if not isinstance(v, str)]
        upload = files[0] if files else None
    if upload is None:
        raise BadImage(400, "the form has no file: send the image as the field 'image'")
    data = await upload.read()
    await form.close()
    return data, upload.filename or "upload"


def create_app(predictor: Predictor) -> Starlette:
    limits = predictor.limits
    info = {**predictor.ens.describe(), "colours": class_colours(predictor.ens.classes), "tta": predictor.tta,
            "limits": limits.as_dict(),
            "endpoints": {"POST /predict": "an image -> its faces and their class probabilities",
                          "GET /api": "this", "GET /health": "liveness"}}
    page = _page(info)

    async def home(request: Request) -> Response:
        return HTMLResponse(page)

    async def api(request: Request) -> Response:
        return JSONResponse(info)

    async def health(request: Request) -> Response:
        return JSONResponse({"ok": True})

    async def predict(request: Request) -> Response:
        try:
            body = await read_body(request, limits.max_body, limits.body_timeout_s)
            data, name = await image_bytes(request, body)
            q = request.query_params
            explain = q.get("explain", "").lower() in TRUE or "class" in q
            result = await run_in_threadpool(predictor.predict, data, name, explain, q.get("class") or None,
                                             q.get("crops", "").lower() in TRUE)
        except BadImage as exc:
            return JSONResponse({"error": str(exc)}, status_code=exc.status,
                                headers={"Connection": "close"} if exc.status in (408, 413) else None)
        except ClientDisconnect:
            return Response(status_code=400)  # nobody is there to read it
        return JSONResponse(result)

    async def refused(request: Request, exc: HTTPException) -> Response:
        # Starlette's own refusals (an unknown path, a GET of /predict) in the API's shape, not plain text.
        what = {404: f"no such page: {request.url.path} (the API is POST /predict; see GET /api)",
                405: f"{request.method} is not allowed on {request.url.path} (send the image with POST)"}
        return JSONResponse({"error": what.get(exc.status_code, exc.detail)}, status_code=exc.status_code,
                            headers=exc.headers)

    return Starlette(exception_handlers={HTTPException: refused}, routes=[
        Route("/", home),
        Route("/api", api),
        Route("/health", health),
        Route("/predict", predict, methods=["POST"]),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ])


def _page(info: dict) -> str:
    text = (HERE / "page.html").read_text(encoding="utf-8")
    limits = info["limits"]
    values = {
        "model": html.escape(info["name"]),
        "models": html.escape(", ".join(info["models"])),
        "classes": html.escape(", ".join(info["classes"])),
        "max_mb": f"{limits['max_body_bytes'] / 2**20:g}",
        "max_mp": f"{limits['max_pixels'] / 1e6:g}",
        "body_timeout": f"{limits['body_timeout_s']:g}",
        # Inside <script> nothing is unescaped: JSON with every "<" as \u003c cannot close the element.
        "config": json.dumps(info).replace("<", "\\u003c"),
    }
    for k, v in values.items():
        text = text.replace("{{" + k + "}}", v)
    return text
