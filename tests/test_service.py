"""The HTTP service's limits, against uvicorn on a loopback port with a stand-in model whose generation takes as
long as the test says (the limits belong to the server, not the model)."""

import asyncio
import base64
import io
import threading
import time

import httpx

from radreport.inference.generation import Completion
from radreport.serving.app import Limits, create_app
from tests.serving import served_app


class SlowModel:
    def __init__(self, seconds: float = 0.0, takes_images: bool = False):
        self.seconds, self.takes_images, self.calls = seconds, takes_images, 0

    def generate(self, inputs, batch_size, max_new_tokens):
        self.calls += 1
        time.sleep(self.seconds)
        return ["No acute abnormality."] * len(inputs)


class WordTokenizer:
    def decode(self, tokens, **options):
        return "word " * len(tokens)


class TextModel(SlowModel):
    """A stand-in text model for the OpenAI routes: the input "forever" is generated a token every 10 ms until the
    server stops it (or 100 s pass); any other input is answered at once."""
    tokenizer = WordTokenizer()

    def __init__(self):
        super().__init__()
        self.stopped = threading.Event()

    def complete(self, text, max_new_tokens, temperature, top_p, stop, seed, streamer, json_schema):
        import torch

        try:
            for _ in range(10_000 if text == "forever" else 1):
                if streamer is not None:
                    streamer.put(torch.tensor([[0]]))
                time.sleep(0.01)
        finally:
            self.stopped.set()
        return Completion("No acute abnormality.", 1, 1, "stop")


def served(model, **limits):
    return served_app(create_app(model, {"model": "m"}, Limits(**limits)))


def test_a_chunked_body_is_cut_off_at_the_limit_not_read_whole():
    sent = 0

    def chunks():
        nonlocal sent
        for _ in range(2000):  # 2000 x 64 KiB = 125 MiB if the server read it all
            sent += 1
            yield b"x" * 65536

    with served(SlowModel(), max_body_bytes=256_000) as url:
        try:
            response = httpx.post(f"{url}/v1/generate", content=chunks(), timeout=10)
            assert response.status_code == 413
        except httpx.WriteError:
            pass  # the server answered 413 and closed while we were still sending
    assert sent < 200


def test_the_queue_is_bounded_and_health_answers_at_once_under_load():
    async def load(url):
        async with httpx.AsyncClient(timeout=30) as client:
            body = {"findings": ["Lungs clear."], "max_new_tokens": 4}
            posts = [asyncio.create_task(client.post(f"{url}/v1/generate", json=body)) for _ in range(12)]
            await asyncio.sleep(0.3)
            health = await client.get(f"{url}/health")
            still_generating = sum(not post.done() for post in posts)
            return [r.status_code for r in await asyncio.gather(*posts)], health, still_generating, posts

    with served(SlowModel(0.3), max_queue=3) as url:
        codes, health, still_generating, posts = asyncio.run(load(url))
    assert health.status_code == 200 and still_generating > 0  # answered before the queued generations, not behind them
    assert codes.count(200) == 3 and codes.count(503) == 9
    assert all(int(p.result().headers["Retry-After"]) >= 1 for p in posts if p.result().status_code == 503)


def test_a_generation_past_the_timeout_gets_504_and_still_counts_against_the_queue():
    model = SlowModel(1.0)
    with served(model, max_queue=1, timeout_s=0.2) as url:
        late = httpx.post(f"{url}/v1/generate", json={"findings": ["Lungs clear."]}, timeout=10)
        busy = httpx.post(f"{url}/v1/generate", json={"findings": ["Lungs clear."]}, timeout=10)
        model.seconds = 0.0
        time.sleep(1.0)  # the abandoned generation ends
        after = httpx.post(f"{url}/v1/generate", json={"findings": ["Lungs clear."]}, timeout=10)
    assert (late.status_code, busy.status_code, after.status_code) == (504, 503, 200)


def test_errors_never_echo_report_text():
    secret = "Patient John Q Example has a 3 cm mass"
    with served(SlowModel(), max_chars=20) as url:
        answers = [httpx.post(f"{url}/v1/generate", json=body, timeout=10) for body in
                   ({"findings": [secret]}, {"findings": secret}, {"findings": [secret], "temperature": 1},
                    {"findings": ["Lungs clear."], secret: 1})]
    assert [a.status_code for a in answers] == [422, 422, 422, 422]
    assert all("John" not in a.text for a in answers)
    assert "findings[0] has 38 characters; the limit is 20" in answers[0].text


def test_an_image_bomb_is_a_422_and_an_unreadable_image_in_the_index():
    import zlib

    from radreport.vision.images import image_fault

    width = height = 14_000  # 196 megapixels in a PNG of a few KB
    row = b"\x00" + b"\x00" * width
    compressed = zlib.compress(row * 64, 9)  # only the header matters: PIL reads the size before any pixel
    def chunk(kind, data):
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")
    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", width.to_bytes(4, "big") + height.to_bytes(4, "big") + b"\x08\x00\x00\x00\x00")
           + chunk(b"IDAT", compressed) + chunk(b"IEND", b""))
    assert len(png) < 50_000 and "megapixels" in image_fault(io.BytesIO(png))
    with served(SlowModel(takes_images=True), max_body_bytes=1_000_000) as url:
        answer = httpx.post(f"{url}/v1/report", json={"images": [base64.b64encode(png).decode()]}, timeout=10)
    assert answer.status_code == 422 and "megapixels" in answer.text


def png_chunk(kind: bytes, data: bytes) -> bytes:
    import zlib

    return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")


def encoded(image, format: str) -> bytes:
    out = io.BytesIO()
    image.save(out, format)
    return out.getvalue()


def test_images_that_do_not_decode_or_are_not_png_or_jpeg_are_a_422_naming_which():
    import os

    from PIL import Image

    noise = Image.frombytes("L", (128, 128), os.urandom(128 * 128))
    png, jpeg = encoded(noise, "PNG"), encoded(noise, "JPEG")
    not_zlib = (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", (8).to_bytes(4, "big") * 2 + b"\x08\x00\x00\x00\x00")
                + png_chunk(b"IDAT", b"not a zlib stream") + png_chunk(b"IEND", b""))  # every CRC right
    refused = [jpeg[:len(jpeg) // 2], not_zlib] + [encoded(noise, f) for f in ("TIFF", "BMP", "GIF", "ICO", "WEBP",
                                                                               "PCX", "TGA", "EPS")]
    with served(SlowModel(takes_images=True), max_body_bytes=1_000_000) as url:
        post = lambda images: httpx.post(f"{url}/v1/report", timeout=10,  # noqa: E731
                                         json={"images": [base64.b64encode(i).decode() for i in images]})
        answers = [post([png, image]) for image in refused]
        accepted = post([png, jpeg])
    assert [a.status_code for a in answers] == [422] * len(refused) and all("images[1]" in a.text for a in answers)
    assert accepted.status_code == 200


def test_a_body_that_stops_arriving_gets_408_and_the_connection_closes():
    import socket

    with served(SlowModel(), body_timeout_s=0.5) as url:
        host, port = url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=30) as raw:  # 30 s: only so a hang fails
            raw.sendall(b"POST /v1/generate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                        b"Content-Length: 1000\r\n\r\n" + b'{"findings": ["Lungs')  # and then nothing more
            answer = b""
            while chunk := raw.recv(65536):
                answer += chunk
    assert answer.startswith(b"HTTP/1.1 408") and b"request body" in answer


def test_a_hung_registry_delays_neither_health_nor_the_model_list():
    registry_back = threading.Event()

    def aliases():  # the registry's alias lookup (served_ids), hung until the test lets it answer
        registry_back.wait(60)
        return ["m@1", "m@champion"]

    async def ask(url):
        async with httpx.AsyncClient(timeout=10) as client:  # 10 s: only so a hang fails
            listed, health = await asyncio.gather(client.get(f"{url}/v1/models"), client.get(f"{url}/health"))
            chat = await client.post(f"{url}/v1/chat/completions",
                                     json={"model": "m@1", "messages": [{"role": "user", "content": "Lungs clear."}]})
            registry_back.set()
            relisted = await client.get(f"{url}/v1/models")
            return listed, health, chat, relisted

    with served_app(create_app(TextModel(), {"model": "m", "version": 1}, Limits(), aliases)) as url:
        listed, health, chat, relisted = asyncio.run(ask(url))
    assert health.status_code == 200 and chat.status_code == 200
    assert [m["id"] for m in listed.json()["data"]] == ["m@1"]  # the version's own id, until the registry answers
    assert [m["id"] for m in relisted.json()["data"]] == ["m@1", "m@champion"]


def test_a_completion_past_the_timeout_stops_and_frees_the_worker():
    model = TextModel()
    with served_app(create_app(model, {"model": "m", "version": 1}, Limits(max_queue=2, timeout_s=1.0))) as url:
        ask = lambda text: httpx.post(f"{url}/v1/chat/completions", timeout=30,  # noqa: E731
                                      json={"model": "m@1", "messages": [{"role": "user", "content": text}]})
        late = ask("forever")
        stopped = model.stopped.wait(30)  # 30 s: only so a hang fails
        after = ask("Lungs clear.")
    assert (late.status_code, stopped, after.status_code) == (504, True, 200)


def test_a_stream_whose_client_leaves_stops_generating():
    model = TextModel()
    body = {"model": "m@1", "stream": True, "messages": [{"role": "user", "content": "forever"}]}
    with served_app(create_app(model, {"model": "m", "version": 1}, Limits())) as url:
        with httpx.stream("POST", f"{url}/v1/chat/completions", json=body, timeout=30) as stream:
            lines = stream.iter_lines()
            first, second = next(lines), next(line for line in lines if line)  # a role event, then words
        stopped = model.stopped.wait(30)  # 30 s: only so a hang fails
    assert first.startswith("data: ") and "word" in second and stopped
