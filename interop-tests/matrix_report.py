#!/usr/bin/env python3
"""Reads the interop suites' results and prints every test with its outcome (and reason), the
client x feature matrix, the number skipped, and the closing line `matrix: N passed, M failed`.

Inputs, repeatable:
  --suite NAME:KIND:FILE:EXIT   one suite's results (KIND junit, from pytest or node's test
                                runner, or gojson, from `go test -json`) and its runner's exit
                                status; a runner that failed without a failing test in its
                                results (a crash, a hook, a time-out) counts as one failure.
                                For junit, FILE may be a directory (Maven Surefire writes one
                                TEST-<class>.xml per test class): every *.xml in it is read and
                                its tests are filed under the client NAME
  --missing NAME:REASON         a suite that could not run: one failure
Exit status: 0 when nothing failed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass

FEATURES = ["keys+headers", "group", "admin", "gzip", "snappy", "lz4", "zstd", "idempotent"]
CLIENTS = {
    "test_confluent": "confluent-kafka",
    "test_kafka_python": "kafka-python",
    "test_aiokafka": "aiokafka",
    "kafkajs": "kafkajs",
    "@platformatic/kafka": "@platformatic/kafka",
    "sarama": "Sarama",
}


FILES = {"kafkajs.test.js": "kafkajs", "platformatic.test.js": "@platformatic/kafka"}


@dataclass
class Result:
    client: str
    name: str
    outcome: str  # passed | failed | skipped
    reason: str = ""


def feature_of(name: str) -> str | None:
    n = name.lower()
    for codec in ("gzip", "snappy", "lz4", "zstd"):
        if re.search(rf"(compression|compression\[|compression/){codec}|\[{codec}\]|/{codec}$| {codec}$", n):
            return codec
    if "keys" in n and "header" in n:
        return "keys+headers"
    if "group" in n:
        return "group"
    if "admin" in n:
        return "admin"
    if "idempotent" in n:
        return "idempotent"
    return None


def first_line(text: str | None, limit: int = 220) -> str:
    for line in (text or "").splitlines():
        line = line.strip()
        if line:
            return line if len(line) <= limit else line[: limit - 1] + "…"
    return ""


def read_junit(path: str) -> list[Result]:
    results = []
    root = ET.parse(path).getroot()
    parent = {child: node for node in root.iter() for child in node}
    for case in root.iter("testcase"):
        suite = parent.get(case)
        suite_name = suite.get("name", "") if suite is not None and suite.tag == "testsuite" else ""
        module = case.get("classname", "").split(".")[-1]
        name = case.get("name", "")
        # node's runner reports a test file that failed outside any test (it could not load,
        # a hook failed) as a test case named by the file's path.
        file_name = name.rsplit("/", 1)[-1]
        client = CLIENTS.get(module) or CLIENTS.get(suite_name) or FILES.get(file_name) or suite_name or module
        failure = case.find("failure")
        if failure is None:
            failure = case.find("error")
        skipped = case.find("skipped")
        if failure is not None:
            if file_name in FILES:
                reason = "the test file failed outside its tests; see its output above"
            else:
                # pytest puts the assertion in `message`; node puts it in the text.
                reason = failure.get("message") or ""
                text = failure.text or ""
                m = re.search(r"(AssertionError.*|Error: .*|E\s+.*)", text)
                if not reason or reason in ("failed", "test failed"):
                    reason = m.group(1) if m else text
            results.append(Result(client, name, "failed", first_line(reason)))
        elif skipped is not None:
            results.append(Result(client, name, "skipped", first_line(skipped.get("message"))))
        else:
            results.append(Result(client, name, "passed"))
    return results


def read_junit_dir(path: str, client: str) -> list[Result]:
    """Every JUnit XML file in `path` (one per test class, as Surefire writes them), each test
    filed under `client`: the class names say nothing about which client ran."""
    files = sorted(f for f in os.listdir(path) if f.endswith(".xml"))
    if not files:
        raise OSError(f"no *.xml in {path}")
    results = []
    for f in files:
        for r in read_junit(os.path.join(path, f)):
            r.client = client
            results.append(r)
    return results


def read_go_json(path: str, client: str) -> list[Result]:
    outcomes: dict[str, str] = {}
    output: dict[str, list[str]] = {}
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            test = event.get("Test")
            if not test:
                continue
            action = event.get("Action")
            if action == "output":
                text = event.get("Output", "")
                if re.search(r"\.go:\d+:", text):
                    output.setdefault(test, []).append(text.strip())
            elif action in ("pass", "fail", "skip"):
                outcomes[test] = {"pass": "passed", "fail": "failed", "skip": "skipped"}[action]
    parents = {t.rsplit("/", 1)[0] for t in outcomes if "/" in t}
    results = []
    for test, outcome in outcomes.items():
        if test in parents:
            continue
        reason = "; ".join(output.get(test, [])[-1:]) if outcome != "passed" else ""
        results.append(Result(client, test, outcome, first_line(reason)))
    return results


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--suite", action="append", default=[])
    ap.add_argument("--missing", action="append", default=[])
    args = ap.parse_args()

    results: list[Result] = []
    for item in args.suite:
        name, kind, path, code = item.split(":", 3)
        try:
            if kind == "junit" and os.path.isdir(path):
                found = read_junit_dir(path, name)
            elif kind == "junit":
                found = read_junit(path)
            else:
                found = read_go_json(path, name)
        except (OSError, ET.ParseError) as e:
            found = [Result(name, "(results)", "failed", f"no readable results ({e})")]
        if code != "0" and not any(r.outcome == "failed" for r in found):
            found.append(Result(name, "(runner)", "failed", f"exited {code} without a failing test in its results; see its output above"))
        if not found:
            found.append(Result(name, "(runner)", "failed", "ran no test"))
        results += found
    for item in args.missing:
        client, _, reason = item.partition(":")
        results.append(Result(client, "(suite did not run)", "failed", reason))

    print("\n== results")
    for r in results:
        mark = {"passed": "PASS", "failed": "FAIL", "skipped": "SKIP"}[r.outcome]
        print(f"{mark} {r.client}: {r.name}" + (f" — {r.reason}" if r.reason else ""))

    cells: dict[tuple[str, str], list[Result]] = {}
    clients: list[str] = []
    for r in results:
        if r.client not in clients:
            clients.append(r.client)
        feature = feature_of(r.name)
        if feature:
            cells.setdefault((r.client, feature), []).append(r)

    def cell(client: str, feature: str) -> str:
        rs = cells.get((client, feature), [])
        if not rs:
            return "·"
        failed = [r for r in rs if r.outcome == "failed"]
        if failed:
            return "✗ " + " / ".join(r.reason or r.name for r in failed)
        if all(r.outcome == "skipped" for r in rs):
            return "— " + rs[0].reason
        return "✓"

    print("\n== matrix")
    print("| client | " + " | ".join(FEATURES) + " |")
    print("|---" * (len(FEATURES) + 1) + "|")
    for client in clients:
        print(f"| {client} | " + " | ".join(cell(client, f) for f in FEATURES) + " |")

    passed = sum(r.outcome == "passed" for r in results)
    failed = sum(r.outcome == "failed" for r in results)
    skipped = sum(r.outcome == "skipped" for r in results)
    print()
    print(f"skipped: {skipped} (unsupported by the client, see the reasons above)")
    print(f"matrix: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
