"""The bounded incremental reader of one array inside a large JSON file."""

import io
import json

import pytest

from migma_contract.core.json_stream import ArrayReader, JsonStreamError

DOC = {"log": {"version": "1.2", "creator": {"name": "t", "version": "1"}, "pages": [{"id": "p"}],
               "entries": [{"n": i, "text": "é€𝄞" * (i % 7), "size": 1.5e3, "ok": i % 2 == 0, "none": None} for i in range(300)]}}
RAW = json.dumps(DOC, ensure_ascii=False).encode()


def read(raw, chunk=97, **options):
    reader = ArrayReader(io.BytesIO(raw), chunk=chunk, **options)
    return list(reader.iter_array(("log", "entries"))), reader


def test_every_item_in_order_and_the_keys_met_on_the_way():
    items, reader = read(RAW, keep=("creator",))
    assert items == DOC["log"]["entries"] and reader.stopped is None
    assert reader.kept == {"creator": {"name": "t", "version": "1"}}


def test_the_array_is_found_whatever_the_key_order_and_a_bom():
    raw = b"\xef\xbb\xbf" + json.dumps({"log": {"entries": [{"a": 1}], "version": "1.2"}}).encode()
    assert read(raw)[0] == [{"a": 1}]


@pytest.mark.parametrize("cut", [len(RAW) * k // 23 for k in range(1, 23)] + [len(RAW) - 3])
def test_a_truncated_file_yields_the_complete_items_and_says_where_it_stopped(cut):
    items, reader = read(RAW[:cut])
    assert items == DOC["log"]["entries"][: len(items)]
    assert reader.stopped and "the file ends" in reader.stopped
    if items:
        assert f"{len(items)}" in reader.stopped


def test_a_file_cut_after_the_array_has_every_item():
    items, reader = read(RAW[:-1])
    assert len(items) == 300 and reader.stopped is None


def test_memory_holds_one_item_and_a_chunk_not_the_file():
    reader = ArrayReader(io.BytesIO(RAW), chunk=256)
    largest = max(len(json.dumps(e, ensure_ascii=False)) for e in DOC["log"]["entries"])
    peak = 0
    for _ in reader.iter_array(("log", "entries")):
        peak = max(peak, len(reader._buffer))
    assert peak <= 2 * 256 + 4 * largest < len(RAW) // 10


def test_one_item_larger_than_a_chunk_is_read_whole():
    big = {"log": {"entries": [{"body": "x" * 100_000}, {"body": "y"}]}}
    items, _ = read(json.dumps(big).encode(), chunk=64)
    assert [len(i["body"]) for i in items] == [100_000, 1]


@pytest.mark.parametrize("raw, message", [
    (b"[]", "expected an object"),
    (b'{"log": 3}', "expected an object"),
    (b'{"other": {"entries": []}}', "no 'log.entries' array"),
    (b"not json at all", "expected an object"),
])
def test_a_file_that_is_not_such_json_is_an_error_with_its_offset(raw, message):
    with pytest.raises(JsonStreamError, match=message):
        read(raw)


def test_garbage_after_some_items_stops_there():
    raw = b'{"log": {"entries": [{"a": 1}, {"a": 2,, "b": 3}, {"a": 4}]}}'
    items, reader = read(raw, chunk=8)
    assert items == [{"a": 1}] and reader.stopped.startswith("not JSON after item 1")


def test_an_item_over_the_bound_is_not_waited_for():
    raw = json.dumps({"log": {"entries": [{"a": 1}, {"body": "x" * 5000}]}}).encode()
    items, reader = read(raw, chunk=64, max_item=1000)
    assert items == [{"a": 1}] and "over" in reader.stopped


@pytest.mark.parametrize("chunk", [7, 97, 1 << 20])
def test_pass_y2_f5_skim_reads_the_kept_keys_wherever_they_stand(chunk):
    """Pass Y2, F5: `kept` held only the keys met before the array; `skim` steps over the array (no item built) and
    reads on after it, keeping the last of each key of the array's object, as a JSON reader keeps it."""
    creator = {"name": "after", "version": "2"}
    for log, expected in (({"creator": {"name": "t"}, "entries": DOC["log"]["entries"]}, {"name": "t"}),
                          ({"entries": DOC["log"]["entries"], "pages": [{"id": "p"}], "creator": creator}, creator),
                          ({"entries": [], "creator": creator}, creator),
                          ({"entries": [1, "x", [2, [3]], {"a": "]"}], "creator": creator}, creator)):
        reader = ArrayReader(io.BytesIO(json.dumps({"log": log}).encode()), chunk=chunk, keep=("creator",))
        reader.skim(("log", "entries"))
        assert reader.kept == {"creator": expected}, log
    twice = b'{"log": {"creator": {"name": "first"}, "entries": [{"n": 1}], "creator": {"name": "last"}}}'
    reader = ArrayReader(io.BytesIO(twice), chunk=chunk, keep=("creator",))
    reader.skim(("log", "entries"))
    assert reader.kept == {"creator": {"name": "last"}}
    # only the array's object's own: a `creator` elsewhere (top level) is not `log.creator`
    reader = ArrayReader(io.BytesIO(b'{"creator": {"name": "top"}, "log": {"entries": []}}'), chunk=chunk, keep=("creator",))
    reader.skim(("log", "entries"))
    assert reader.kept == {}
    # a file cut inside the array: what was met, no error
    reader = ArrayReader(io.BytesIO(twice[:60]), chunk=chunk, keep=("creator",))
    reader.skim(("log", "entries"))
    assert reader.kept == {"creator": {"name": "first"}}
