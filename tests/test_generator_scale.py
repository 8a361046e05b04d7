"""The generator's bulk tables held as columns (demo_world.columnar): they read like the lists of dicts they replace,
and the files written from the columns are byte for byte what writing the dicts one by one gives."""

import copy
import pickle

import orjson
import pytest

from ingestion.demo_world import writers
from ingestion.demo_world.columnar import ColumnRows, write_json_array


@pytest.fixture(scope="module")
def world():
    from ingestion.demo_world import generate

    return generate(5, 150, 14)


BULK = [("shop", "events"), ("esp", "events"), ("iot", "readings")]


@pytest.mark.parametrize("system,table", BULK)
def test_bulk_tables_read_like_lists_of_dicts(world, system, table):
    rows = world.tables()[system][table]
    assert isinstance(rows, ColumnRows)
    listed = list(rows)
    assert len(listed) == len(rows) > 100 and all(isinstance(r, dict) for r in listed)
    assert rows[0] == listed[0] and rows[-1] == listed[-1] and rows[5:9] == listed[5:9] and rows[::50] == listed[::50]
    assert rows == listed and rows != listed[:-1]
    with pytest.raises(IndexError):
        rows[len(rows)]
    assert pickle.loads(pickle.dumps(rows)) == rows and copy.deepcopy(rows) == listed


@pytest.mark.parametrize("system,table", [("shop", "events"), ("esp", "events")])
def test_snapshots_from_columns_are_what_orjson_writes_of_the_dicts(world, system, table, tmp_path):
    rows = world.tables()[system][table]
    write_json_array(rows, tmp_path / "a.json", batch=97)  # several batches
    assert (tmp_path / "a.json").read_bytes() == orjson.dumps(list(rows))


def test_esp_events_keep_klaviyos_shape(world):
    event = world.esp["events"][0]
    assert set(event) == {"type", "id", "attributes", "relationships"}
    assert event["attributes"]["datetime"].endswith("+00:00") and isinstance(event["attributes"]["timestamp"], int)
    assert event["relationships"]["metric"]["data"]["id"] in {"RcvEml", "OpnEml", "ClkEml", "UnsEml", "RcvCtl"}


def test_iot_files_from_columns_are_what_the_rows_give(world):
    columns = list(writers._readings_by_day(world.iot["readings"]))
    rows = list(writers._readings_by_day(list(world.iot["readings"])))
    assert len(columns) >= 13 and columns == rows
    km = [r for r in world.iot["readings"] if r["metric"] == "km_driven"]
    assert km and all(isinstance(r["value"], float) and round(r["value"], 1) == r["value"] for r in km)


def test_device_daily_truth_from_columns_equals_the_rows(world):
    columns = writers.device_daily_truth(world)
    as_rows = copy.copy(world)
    as_rows.iot = dict(world.iot, readings=list(world.iot["readings"]))
    assert columns and columns == writers.device_daily_truth(as_rows)
    assert len(world.iot_consented_readings()) == len(as_rows.iot_consented_readings()) > 0
