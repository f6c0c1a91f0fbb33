"""Items with images: checked when the golden set is read, sent to vision llm deciders as
OpenAI-style ``image_url`` parts (data URLs, nothing fetched), through the direct client and
through litellm, and judged on text alone by deciders that cannot see them, which their
decisions, ``metrics.json`` and the report say. The loopback server checks every image part
(a base64 data URL of a real image) and sees what the image shows."""

from __future__ import annotations

import base64
import hashlib
import json
import struct
import urllib.error
import urllib.request
import zlib
from pathlib import Path

import pytest

from evalharness import run_eval
from evalharness.inputs.goldens import read_golden_set
from evalharness.inputs.selection import selection_hash
from evalharness.testing.stub_server import StubServer

from conftest import REPO, read_jsonl


def png(shows: str = "") -> bytes:
    """A real 2x2 PNG; ``shows`` goes in a tEXt chunk (what the stub server reads as its content)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * 2 for _ in range(2))
    text = chunk(b"tEXt", b"Comment\x00" + shows.encode()) if shows else b""
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0))
            + text + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def _data_url(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


PHOTO_HATE = png("a hateful slogan printed on the shirt")
PHOTO_PLAIN = png("a plain white mug")
PHOTO_INLINE = png("a blue scarf")


def _golden(tmp_path: Path) -> Path:
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "shirt.png").write_bytes(PHOTO_HATE)
    (tmp_path / "photos" / "mug.png").write_bytes(PHOTO_PLAIN)
    items = [
        {"id": "l1", "text": "Cotton shirt, size M", "labels": {"hate_speech": "hate"},
         "images": ["photos/shirt.png"]},
        {"id": "l2", "text": "Mug, 300 ml", "labels": {"hate_speech": "none"},
         "images": ["photos/mug.png", _data_url(PHOTO_INLINE)]},
        {"id": "l3", "text": "I hate them all", "labels": {"hate_speech": "hate"}},
    ]
    path = tmp_path / "listings.jsonl"
    path.write_text("".join(json.dumps(it) + "\n" for it in items))
    return path


def _llm(name: str, url: str, **options) -> dict:
    return {"name": name, "kind": "llm", "model": "openai/stub", "api_base": url,
            "price": {"input_per_mtok": 0.1, "output_per_mtok": 0.2}, "max_attempts": 1,
            **options}


def _config(golden: Path, *deciders: dict) -> dict:
    return {"name": "listings", "golden_set": {"path": str(golden)}, "policies": ["hate_speech"],
            "policies_dir": str(REPO / "policies"), "deciders": list(deciders)}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_a_vision_decider_sees_the_images_and_a_text_only_one_says_it_did_not(
        tmp_path, write_config):
    golden = _golden(tmp_path)
    with StubServer() as server:
        result = run_eval(write_config(_config(golden, _llm("vision", server.url, vision=True),
                                               _llm("blind", server.url))),
                          out_dir=tmp_path / "runs", live_progress=False)
        sent = server.stats()["images"]
    # every image arrived as a data URL of exactly the file's bytes, in the item's order, and
    # only from the decider that can see them
    assert sorted(found for found in sent if found) == sorted(
        [[_sha(PHOTO_HATE)], [_sha(PHOTO_PLAIN), _sha(PHOTO_INLINE)]])
    assert sum(1 for found in sent if not found) == 4  # blind: 3 items, vision: l3
    decisions = {(d["decider"], d["item_id"]): d for d in read_jsonl(result.run_dir /
                                                                      "decisions.jsonl")}
    assert decisions["vision", "l1"]["label"] == "hate"  # the slogan is in the photo only
    assert decisions["blind", "l1"]["label"] == "none"
    assert [decisions["blind", i].get("text_only") for i in ("l1", "l2", "l3")] == [
        True, True, None]
    assert not any("text_only" in decisions["vision", i] for i in ("l1", "l2", "l3"))
    rows = {r["decider"]: r for r in json.loads((result.run_dir / "metrics.json").read_text())[
        "results"] if r["slice"] is None}
    assert rows["blind"]["text_only"] == 2 and "text_only" not in rows["vision"]
    report = (result.run_dir / "report.md").read_text()
    assert "blind cannot see images: 2 of its 3 decisions were on items with images" in report
    assert "vision cannot see images" not in report
    assert "blind cannot see images" in (result.run_dir / "report.html").read_text()
    described = {d["name"]: d for d in result.manifest.deciders}
    assert (described["vision"]["sees_images"], described["blind"]["sees_images"]) == (True, False)


def test_images_go_through_litellm_as_the_same_parts(tmp_path, write_config):
    golden = _golden(tmp_path)
    with StubServer() as server:
        result = run_eval(write_config(_config(golden, _llm("via-litellm", server.url,
                                                            vision=True, client="litellm"))),
                          out_dir=tmp_path / "runs", live_progress=False)
        sent = server.stats()["images"]
    assert result.manifest.counts["ok"] == 3
    assert sorted(found for found in sent if found) == sorted(
        [[_sha(PHOTO_HATE)], [_sha(PHOTO_PLAIN), _sha(PHOTO_INLINE)]])


def test_a_changed_image_is_asked_again_and_changes_the_selection_hash(tmp_path, write_config):
    golden = _golden(tmp_path)
    config = write_config(_config(golden, _llm("vision", "", vision=True)))
    with StubServer() as server:
        text = config.read_text().replace("api_base: ''", f"api_base: {server.url}")
        config.write_text(text)
        def run(run_id: str):
            return run_eval(config, out_dir=tmp_path / "runs", run_id=run_id, live_progress=False)

        first, again = run("first"), run("again")
        (tmp_path / "photos" / "shirt.png").write_bytes(png("a plain shirt"))
        changed = run("changed")
        asked = server.stats()["completions"]
    assert asked == 3 + 0 + 1  # the rerun is served from the cache; the new photo is asked
    assert again.manifest.golden_set.selection_sha256 == first.manifest.golden_set.selection_sha256
    assert changed.manifest.golden_set.selection_sha256 != first.manifest.golden_set.selection_sha256
    label = {d["item_id"]: d["label"] for d in read_jsonl(changed.run_dir / "decisions.jsonl")}
    assert label["l1"] == "none"


@pytest.mark.parametrize("image, needle", [
    ("photos/missing.png", "is no file"),
    ("https://cdn.example.com/a.png", "is a web address; runs are offline"),
    ("notes.png", "is no PNG, JPEG, GIF or WebP image"),
    ("data:image/png;base64,???", "base64 does not decode"),
    ("x" * 300 + ".png", "cannot be read"),
    ("data:image/jpeg;base64," + base64.b64encode(PHOTO_PLAIN).decode(),
     "says image/jpeg but holds image/png"),
])
def test_a_bad_image_is_one_clean_error_naming_file_line_and_field(tmp_path, write_config, cli_run,
                                                                   image, needle):
    (tmp_path / "notes.png").write_text("not an image at all")
    golden = tmp_path / "listings.jsonl"
    golden.write_text(json.dumps({"id": "ok", "text": "fine", "labels": {"hate_speech": "none"}})
                      + "\n" + json.dumps({"id": "bad", "text": "x", "images": [image]}) + "\n")
    result = cli_run("validate", write_config(_config(golden, _llm("v", "http://127.0.0.1:9/v1"))))
    assert result.exit_code == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert "listings.jsonl:2" in lines[0] and "images[0]" in lines[0]
    assert "item 'bad'" in lines[0] and needle in lines[0]


def test_tables_give_images_as_a_path_a_json_list_or_a_parquet_image_struct(tmp_path):
    import pandas as pd

    (tmp_path / "a.png").write_bytes(PHOTO_PLAIN)
    csv_path = tmp_path / "items.csv"
    csv_path.write_text('id,text,images\nc1,one,a.png\nc2,two,"[""a.png"", ""a.png""]"\n')
    one, two = read_golden_set(csv_path)
    assert (one.images, two.images) == (["a.png"], ["a.png", "a.png"])
    frame = pd.DataFrame({"id": ["p1"], "text": ["t"],
                          "images": [[{"bytes": PHOTO_HATE, "path": "shirt.png"}]]})
    frame.to_parquet(tmp_path / "items.parquet")
    (item,) = read_golden_set(tmp_path / "items.parquet")
    assert item.images == [_data_url(PHOTO_HATE)]
    assert selection_hash([item]) != selection_hash([item.model_copy(update={"images": []})])


def test_the_embedded_model_cannot_be_told_it_sees_images(tmp_path, write_config, cli_run):
    golden = _golden(tmp_path)
    config = _config(golden, {"name": "tiny", "kind": "llm", "model": "embedded", "vision": True})
    result = cli_run("validate", write_config(config))
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    assert "vision" in result.stderr and "reads text only" in result.stderr


def test_the_stub_server_refuses_image_parts_that_are_no_images():
    with StubServer() as server, StubServer(vision=False) as text_only:
        def post(url: str, image_url: str) -> tuple[int, str]:
            body = {"model": "stub", "messages": [{"role": "user", "content": [
                {"type": "text", "text": "<item>x</item>"},
                {"type": "image_url", "image_url": {"url": image_url}}]}]}
            request = urllib.request.Request(url + "/chat/completions",
                                             data=json.dumps(body).encode(),
                                             headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    return response.status, response.read().decode()
            except urllib.error.HTTPError as exc:
                return exc.code, exc.read().decode()

        assert post(server.url, _data_url(PHOTO_PLAIN))[0] == 200
        status, body = post(server.url, "https://example.com/a.png")
        assert status == 400 and "data URL" in body
        status, body = post(server.url, "data:image/png;base64," + base64.b64encode(b"GIF89a").decode())
        assert status == 400 and "not a image/png image" in body
        status, body = post(text_only.url, _data_url(PHOTO_PLAIN))
        assert status == 400 and "only supported by certain models" in body


def test_a_hugging_face_image_column_is_read_as_data_urls(tmp_path):
    import datasets
    import pyarrow as pa

    struct = pa.list_(pa.struct([("bytes", pa.binary()), ("path", pa.string())]))
    table = pa.table({"id": ["h1"], "text": ["a scarf"],
                      "images": pa.array([[{"bytes": PHOTO_INLINE, "path": None}]], type=struct)})
    # an image dataset as the hub saves one: an Image feature, decoded to PIL on read by default
    data = datasets.Dataset(table).cast_column("images", datasets.Sequence(datasets.Image()))
    data.save_to_disk(str(tmp_path / "hf"))
    (item,) = read_golden_set(tmp_path / "hf")
    assert item.images == [_data_url(PHOTO_INLINE)]
