"""The SDK's typed keys and the routes that name a project in their path.

The official SDK checks the shape of an ingestion key (`hh_ingst_…`) and of a
data-plane key (`hh_fgdp_…`) when it starts, and sends the data-plane key to
`/v1/projects/{project_id}/…`: its `charts` methods given a `project_id`,
which it recommends over the legacy routes (a call without one warns that it
stops working in v2.0). hive's ingest and read-write keys have those shapes.
"""

from __future__ import annotations

import datetime
import warnings

import pytest
from honeyhive import HoneyHive
from honeyhive._generated.api_config import APIConfig, HTTPException
from honeyhive._generated.models import (
    CreateChartRequest,
    CreateDataPlaneApiKeyRequest,
    CreateIngestionApiKeyRequest,
    UpdateChartRequest,
)
from honeyhive._generated.services.Data_Plane_Api_Keys_service import createDataPlaneApiKey
from honeyhive._generated.services.Ingestion_Api_Keys_service import createIngestionApiKey

from compat_helpers import check_session_export

PROJECT = "compat-typed-keys"
OTHER = "compat-typed-keys-other"


def test_sdk_charts_of_a_project_with_its_data_plane_key(hive):
    key, secret = hive.create_key("compat-data-plane", "read_write", PROJECT)
    _, other_secret = hive.create_key("compat-data-plane-other", "read_write", OTHER)
    project_id = key["project_id"]
    # The SDK refuses a data-plane key of another shape when it starts.
    client = HoneyHive(api_key=secret, data_plane_api_key=secret, base_url=hive.url)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)  # no call here is deprecated
        made = client.charts.create(
            CreateChartRequest(name="latency by variant", metric="metrics.latency_ms", func="avg",
                               groupBy="metadata.variant", bucketing="hour",
                               dateRange={"relative": "7d"}),
            project_id=project_id,
        )
        assert made.success and made.data.name == "latency by variant", made
        chart_id = made.data.id
        # By id and by name, as the project appears in hive.
        for pid in (project_id, PROJECT):
            listed = client.charts.list(project_id=pid)
            assert [c.id for c in listed.data] == [chart_id], (pid, listed)
        got = client.charts.get(chart_id, project_id=project_id)
        assert got.data.func == "avg" and got.data.groupBy == "metadata.variant", got
        changed = client.charts.update(chart_id, UpdateChartRequest(func="p95"), project_id=project_id)
        assert changed.data.func == "p95" and changed.data.groupBy == "metadata.variant", changed
        assert changed.data.dateRange == {"relative": "7d"}, changed
    # The legacy route with the same key sees the same chart.
    legacy = hive.request("GET", "/v1/charts", key=secret)
    assert [c["id"] for c in legacy.body["data"]] == [chart_id], legacy.body

    # Another project's data-plane key is refused, whatever it names.
    other = HoneyHive(api_key=other_secret, data_plane_api_key=other_secret, base_url=hive.url)
    for call in (lambda: other.charts.list(project_id=project_id),
                 lambda: other.charts.get(chart_id, project_id=project_id),
                 lambda: other.charts.delete(chart_id, project_id=project_id),
                 lambda: other.charts.list(project_id="no-such-project")):
        with pytest.raises(HTTPException) as e:
            call()
        assert e.value.status_code == 403, e.value
        assert e.value.server_message, e.value
    # A chart is found under its own project only.
    with pytest.raises(HTTPException) as e:
        other.charts.get(chart_id, project_id=OTHER)
    assert e.value.status_code == 404, e.value

    deleted = client.charts.delete(chart_id, project_id=project_id)
    assert deleted.success, deleted
    assert client.charts.list(project_id=project_id).data == []


def test_sdk_tracer_with_an_ingestion_key_made_by_honeyhives_route(hive, run_example):
    key, read_secret = hive.create_key("compat-typed-read", "read_write", PROJECT)
    admin = APIConfig(base_path=hive.url, access_token=hive.admin_key)
    made = createIngestionApiKey(admin, project_id=key["project_id"],
                                 data=CreateIngestionApiKeyRequest(name="compat-collector"))
    assert made.success and made.data.root_scope_id == key["project_id"], made
    ingest = made.data.key_value
    assert ingest.startswith("hh_ingst_"), ingest
    # The tracer takes it as HH_INGESTION_API_KEY (a key of any other shape
    # there stops it at start) and sends every write with it: the session
    # lands in the key's project, not in the one the example names.
    run = run_example("a12_complex_data", project="compat",
                      extra_env={"HH_INGESTION_API_KEY": ingest})
    sid = run.session_ids["complex"]
    events = hive.session_events(sid, key=read_secret)
    s = check_session_export(events, sid)
    assert s["project_id"] == key["project_id"], \
        f"the session is in {s['project_id']}, not the ingestion key's project {key['project_id']}"
    # An ingestion key reads nothing.
    r = hive.request("GET", f"/v1/events/{sid}", key=ingest)
    assert r.status == 403, r.status


def test_sdk_with_a_fine_grained_key_made_by_honeyhives_route(hive):
    key, rw_secret = hive.create_key("compat-fine-grained-rw", "read_write", PROJECT)
    project_id = key["project_id"]
    admin = APIConfig(base_path=hive.url, access_token=hive.admin_key)
    expires = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)).isoformat()
    made = createDataPlaneApiKey(admin, project_id=project_id, data=CreateDataPlaneApiKeyRequest(
        name="compat-dashboards", permissions=["project.chart.list", "project.chart.get"],
        expires_at=expires))
    assert made.success and made.data.root_scope_id == project_id, made
    assert made.data.permissions == ["project.chart.list", "project.chart.get"], made
    writer = HoneyHive(api_key=rw_secret, data_plane_api_key=rw_secret, base_url=hive.url)
    chart = writer.charts.create(CreateChartRequest(name="cost", metric="metadata.cost", func="sum"),
                                 project_id=project_id).data
    # The SDK takes the key (its shape is a data-plane key's) and lists and
    # reads with it; what the key does not carry is refused, naming it.
    reader = HoneyHive(api_key=rw_secret, data_plane_api_key=made.data.key_value, base_url=hive.url)
    assert chart.id in [c.id for c in reader.charts.list(project_id=project_id).data]
    assert reader.charts.get(chart.id, project_id=project_id).data.name == "cost"
    with pytest.raises(HTTPException) as e:
        reader.charts.delete(chart.id, project_id=project_id)
    assert e.value.status_code == 403 and "project.chart.delete" in e.value.server_message, e.value
    # It is a data-plane key only: the legacy routes refuse it.
    r = hive.request("GET", "/v1/charts", key=made.data.key_value)
    assert r.status == 403, r.status
    writer.charts.delete(chart.id, project_id=project_id)
