#!/usr/bin/env python3
"""Writes observatory-red.json, the Grafana dashboard of the observatory's RED metrics (rate,
errors, duration) per service and method, from the series the processes serve at GET /metrics
(scraped by components/prometheus-operator's PodMonitor, which adds `namespace`, `pod` and
`container`). The JSON is the file to import or provision; this script is how it is written, so
that a change is made here and the file regenerated (`python3 deploy/grafana/make-dashboard.py`);
deploy/check.sh fails if the two differ.

Usage: make-dashboard.py [--check]
"""

import json
import pathlib
import sys

OUT = pathlib.Path(__file__).resolve().parent / "observatory-red.json"
RATE = "$__rate_interval"
SERVER = 'namespace="$namespace", rpc_service=~"$service"'
CLIENT = 'namespace="$namespace", container=~"$container"'
HTTP = 'namespace="$namespace", container=~"$container"'
# gRPC codes that are the server's fault (as OpenTelemetry's semantic conventions mark server
# spans as errors): UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS.
SERVER_ERRORS = 'rpc_grpc_status_code=~"2|4|12|13|14|15"'

panels = []
y = 0


def row(title):
    global y
    panels.append({"type": "row", "title": title, "collapsed": False, "panels": [],
                   "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}, "id": len(panels) + 1})
    y += 1


def timeseries(title, description, unit, targets, x, w=8, h=8, stack=False):
    panels.append({
        "type": "timeseries",
        "title": title,
        "description": description,
        "id": len(panels) + 1,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "gridPos": {"h": h, "w": w, "x": x, "y": y},
        "fieldConfig": {
            "defaults": {
                "unit": unit,
                "min": 0,
                "custom": {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10,
                           "stacking": {"mode": "normal" if stack else "none", "group": "A"}},
            },
            "overrides": [],
        },
        "options": {"legend": {"displayMode": "table", "placement": "bottom", "calcs": ["mean", "max"]},
                    "tooltip": {"mode": "multi", "sort": "desc"}},
        "targets": [
            {"refId": chr(ord("A") + i), "expr": expr, "legendFormat": legend,
             "datasource": {"type": "prometheus", "uid": "${datasource}"}}
            for i, (expr, legend) in enumerate(targets)
        ],
    })


def quantiles(metric, selector, by, legend):
    return [
        (f"histogram_quantile({q}, sum by (le, {by}) (rate({metric}_bucket{{{selector}}}[{RATE}])))",
         f"p{int(q * 100)} {legend}")
        for q in (0.5, 0.95, 0.99)
    ]


row("gRPC services: calls served, per service and method")
timeseries("Rate", "Calls served per second (rpc.server.duration count).", "reqps", [
    (f"sum by (rpc_service, rpc_method) (rate(rpc_server_duration_milliseconds_count{{{SERVER}}}[{RATE}]))",
     "{{rpc_service}}/{{rpc_method}}"),
], 0)
timeseries("Errors", "Share of calls that ended with a server-side gRPC status (UNKNOWN, DEADLINE_EXCEEDED, "
           "UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS). Client mistakes (NOT_FOUND, INVALID_ARGUMENT, "
           "UNAUTHENTICATED, ...) are in 'Calls by status'.", "percentunit", [
    (f"sum by (rpc_service, rpc_method) (rate(rpc_server_duration_milliseconds_count{{{SERVER}, {SERVER_ERRORS}}}[{RATE}]))"
     f" / sum by (rpc_service, rpc_method) (rate(rpc_server_duration_milliseconds_count{{{SERVER}}}[{RATE}]))",
     "{{rpc_service}}/{{rpc_method}}"),
], 8)
timeseries("Duration", "Server-side call duration, 50th/95th/99th percentile (from the histogram buckets).", "ms",
           quantiles("rpc_server_duration_milliseconds", SERVER, "rpc_service, rpc_method", "{{rpc_service}}/{{rpc_method}}"), 16)
y += 8
timeseries("Calls by status", "Calls served per second by gRPC status code (0 = OK, 5 = NOT_FOUND, 16 = UNAUTHENTICATED, ...).",
           "reqps", [
    (f"sum by (rpc_service, rpc_grpc_status_code) (rate(rpc_server_duration_milliseconds_count{{{SERVER}}}[{RATE}]))",
     "{{rpc_service}} {{rpc_grpc_status_code}}"),
], 0, w=12, stack=True)
timeseries("Mean duration", "Mean server-side duration per call (sum / count).", "ms", [
    (f"sum by (rpc_service, rpc_method) (rate(rpc_server_duration_milliseconds_sum{{{SERVER}}}[{RATE}]))"
     f" / sum by (rpc_service, rpc_method) (rate(rpc_server_duration_milliseconds_count{{{SERVER}}}[{RATE}]))",
     "{{rpc_service}}/{{rpc_method}}"),
], 12, w=12)
y += 8

row("HTTP gateway: requests per route (REST, gRPC-Web, pages, SDMX)")
timeseries("Rate", "Requests per second per route template and method.", "reqps", [
    (f"sum by (http_route, http_request_method) (rate(http_server_request_duration_seconds_count{{{HTTP}}}[{RATE}]))",
     "{{http_request_method}} {{http_route}}"),
], 0)
timeseries("Errors", "Share of requests answered with a 5xx status.", "percentunit", [
    (f"sum by (http_route, http_request_method) (rate(http_server_request_duration_seconds_count{{{HTTP}, http_response_status_code=~\"5..\"}}[{RATE}]))"
     f" / sum by (http_route, http_request_method) (rate(http_server_request_duration_seconds_count{{{HTTP}}}[{RATE}]))",
     "{{http_request_method}} {{http_route}}"),
], 8)
timeseries("Duration", "Request duration, 50th/95th/99th percentile.", "s",
           quantiles("http_server_request_duration_seconds", HTTP, "http_route, http_request_method",
                     "{{http_request_method}} {{http_route}}"), 16)
y += 8

row("Calls between services (client side: the gateway and the indicators service)")
timeseries("Rate", "Calls made per second to each service and method, by caller (container).", "reqps", [
    (f"sum by (container, rpc_service, rpc_method) (rate(rpc_client_duration_milliseconds_count{{{CLIENT}}}[{RATE}]))",
     "{{container}} → {{rpc_service}}/{{rpc_method}}"),
], 0)
timeseries("Errors", "Share of calls that failed with a server-side gRPC status, as the caller saw it "
           "(UNAVAILABLE here and not in the server's panel: the service could not be reached).", "percentunit", [
    (f"sum by (container, rpc_service, rpc_method) (rate(rpc_client_duration_milliseconds_count{{{CLIENT}, {SERVER_ERRORS}}}[{RATE}]))"
     f" / sum by (container, rpc_service, rpc_method) (rate(rpc_client_duration_milliseconds_count{{{CLIENT}}}[{RATE}]))",
     "{{container}} → {{rpc_service}}/{{rpc_method}}"),
], 8)
timeseries("Duration", "Client-side call duration, 95th percentile (network and queueing included).", "ms", [
    (f"histogram_quantile(0.95, sum by (le, container, rpc_service, rpc_method) (rate(rpc_client_duration_milliseconds_bucket{{{CLIENT}}}[{RATE}])))",
     "p95 {{container}} → {{rpc_service}}/{{rpc_method}}"),
], 16)
y += 8

row("Database connection pools")
timeseries("Connections by state", "Connections of each process's pool, used and idle (db.client.connection.count).", "short", [
    ('sum by (pod, db_client_connection_pool_name, db_client_connection_state) '
     '(db_client_connection_count{namespace="$namespace", container=~"$container"})',
     "{{pod}} {{db_client_connection_pool_name}} {{db_client_connection_state}}"),
], 0, w=12, stack=True)
timeseries("Pool saturation", "Used connections over the pool's maximum (db.client.connection.max), per pod and "
           "pool: near 1, calls wait for a connection (OBSERVATORY_DATABASE_MAX_CONNECTIONS, the pooler's size).",
           "percentunit", [
    ('sum by (pod, db_client_connection_pool_name) (db_client_connection_count{namespace="$namespace", '
     'container=~"$container", db_client_connection_state="used"}) / sum by (pod, db_client_connection_pool_name) '
     '(db_client_connection_max{namespace="$namespace", container=~"$container"})',
     "{{pod}} {{db_client_connection_pool_name}}"),
], 12, w=12)
y += 8


def variable(name, label, query, multi=True):
    return {
        "name": name, "label": label, "type": "query",
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "query": {"query": query, "refId": name},
        "definition": query, "refresh": 2, "sort": 1,
        "multi": multi, "includeAll": multi, **({"allValue": ".*"} if multi else {}),
        "current": {},
    }


dashboard = {
    "uid": "sse-observatory-red",
    "title": "SSE Observatory: rate, errors, duration",
    "description": "RED metrics per service and method of the SSE Observatory (deploy/grafana).",
    "tags": ["sse-observatory", "grpc", "red"],
    "timezone": "browser",
    "editable": True,
    "graphTooltip": 1,
    "schemaVersion": 39,
    "version": 1,
    "refresh": "30s",
    "time": {"from": "now-3h", "to": "now"},
    "templating": {"list": [
        {"name": "datasource", "label": "Prometheus", "type": "datasource", "query": "prometheus",
         "current": {}, "refresh": 1, "hide": 0},
        variable("namespace", "Namespace", "label_values(rpc_server_duration_milliseconds_count, namespace)", multi=False),
        variable("service", "Service", 'label_values(rpc_server_duration_milliseconds_count{namespace="$namespace"}, rpc_service)'),
        variable("container", "Process", 'label_values(up{namespace="$namespace"}, container)'),
    ]},
    "annotations": {"list": []},
    "panels": panels,
}

text = json.dumps(dashboard, indent=2, ensure_ascii=False) + "\n"
if sys.argv[1:] == ["--check"]:
    if OUT.read_text(encoding="utf-8") != text:
        sys.exit(f"{OUT} is not what {__file__} writes: run it and commit the result")
    print(f"{OUT.name}: up to date ({len(panels)} panels)")
else:
    OUT.write_text(text, encoding="utf-8")
