"""The JAAS cases of `tests/unit/test_jaas.py`, and generated ones, read by Kafka's own
`org.apache.kafka.common.security.JaasConfig` (from the cluster's kafka-clients jar): every
value gives the same login modules, flags and options as `parse_jaas_config`, or is refused by
both. This is what makes the unit table the truth and not our own reading of it."""

from __future__ import annotations

import base64
import random
import subprocess
from pathlib import Path

import pytest

from connect_operator.properties import JaasSyntaxError, parse_jaas_config
from tests.kafka import cluster
from tests.unit.test_jaas import ACCEPTED, REFUSED

pytestmark = pytest.mark.integration

# Reads base64 JAAS values, one a line; prints, per value, `OK` and each entry's module, flag
# and options (base64; a null option name as `-`), or `ERR` and Kafka's message.
READER = """
import java.lang.reflect.Constructor;
import java.nio.charset.StandardCharsets;
import java.util.*;
import javax.security.auth.login.AppConfigurationEntry;
import javax.security.auth.login.Configuration;

public class JaasReader {
    static String b64(String s) {
        return Base64.getEncoder().encodeToString(s.getBytes(StandardCharsets.UTF_8));
    }

    public static void main(String[] args) throws Exception {
        Constructor<?> parse = Class.forName("org.apache.kafka.common.security.JaasConfig")
            .getDeclaredConstructor(String.class, String.class);
        parse.setAccessible(true);
        Scanner lines = new Scanner(System.in, StandardCharsets.UTF_8);
        while (lines.hasNextLine()) {
            byte[] value = Base64.getDecoder().decode(lines.nextLine());
            String text = new String(value, StandardCharsets.UTF_8);
            StringBuilder out = new StringBuilder();
            try {
                Configuration config = (Configuration) parse.newInstance("KafkaClient", text);
                out.append("OK");
                for (AppConfigurationEntry entry : config.getAppConfigurationEntry("KafkaClient")) {
                    String flag = entry.getControlFlag().toString();
                    out.append(" E ").append(b64(entry.getLoginModuleName()))
                        .append(" ").append(flag.substring(flag.lastIndexOf(' ') + 1));
                    for (Map.Entry<String, ?> option : entry.getOptions().entrySet()) {
                        String key = option.getKey();
                        out.append(" O ").append(key == null ? "-" : b64(key))
                            .append(" ").append(b64((String) option.getValue()));
                    }
                }
            } catch (java.lang.reflect.InvocationTargetException refused) {
                out.append("ERR");
            }
            System.out.println(out);
        }
    }
}
"""

Entries = list[tuple[str, str, dict[str, str]]]


def kafka_reads(values: list[str], workdir: Path) -> list[Entries | None]:
    """What Kafka's JaasConfig makes of each value: its entries, or None when it refuses it."""
    lib = cluster.ensure_jars()
    (clients,) = lib.glob("kafka-clients-*.jar")
    (workdir / "JaasReader.java").write_text(READER, encoding="utf-8")
    subprocess.run(
        ["javac", "-cp", str(clients), "-d", str(workdir), str(workdir / "JaasReader.java")],
        check=True,
        timeout=120,
    )
    done = subprocess.run(
        ["java", "-cp", f"{clients}:{workdir}", "JaasReader"],
        input="".join(base64.b64encode(v.encode()).decode() + "\n" for v in values),
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    results: list[Entries | None] = []
    for line in done.stdout.split("\n")[: len(values)]:
        words = line.split(" ")
        if words[0] != "OK":
            results.append(None)
            continue
        entries: Entries = []
        for kind, first, second in zip(words[1::3], words[2::3], words[3::3], strict=True):
            if kind == "E":
                entries.append((base64.b64decode(first).decode(), second.lower(), {}))
            elif first != "-":  # Kafka keeps an option named by no word under null
                entries[-1][2][base64.b64decode(first).decode()] = base64.b64decode(second).decode()
        results.append(entries)
    assert len(results) == len(values), done.stderr
    return results


def ours(value: str) -> Entries | None:
    try:
        return [
            (module, flag.lower(), options) for module, flag, options in parse_jaas_config(value)
        ]
    except JaasSyntaxError:
        return None


def generated(count: int) -> list[str]:
    """Values built from JAAS pieces: bare and quoted values, escapes, comments, odd characters."""
    pick = random.Random(20261129).choice
    separators = [" ", "  ", "\n", "\t", "\r\n", "/* c */", " // c\n", "/**/", "", " /\n x\n"]
    values = [
        "'v'",
        '"v"',
        "v",
        "'a\\'b'",
        '"a\\"b"',
        "'\\101\\477\\3777'",
        "v1.2-x",
        "1",
        "-x",
        "$x",
        "_y",
        "'a\nb",
        "'x*/y'",
        "\xe9",
        "'\\\n'",
        "''",
        "x!",
        "a@b",
        "\x85",
        "\x80",
    ]
    pieces = ["m", " required", "=", ";", "'", '"', "\\", "/", "*", "\n", " ", "0", ".", "-"]
    texts = []
    for _ in range(count):
        if pick([True, False]):
            text = ""
            for _entry in range(pick([1, 1, 2])):
                text += pick(separators) + pick(["m", "org.a.B", "'q'", "$m", "''"])
                text += pick(separators) + pick(
                    ["required", "required", "Optional", "'sufficient'", "no"]
                )
                for _option in range(pick([0, 1, 2, 3])):
                    text += pick(separators) + " " + pick(["username", "'k'", "a.b", "1"])
                    text += pick(separators) + pick(["=", "=", "=", "", "=="]) + pick(separators)
                    text += pick(values)
                text += pick(separators) + pick([";", ";", ";", ""])
        else:
            text = "".join(pick(pieces + values) for _ in range(pick(range(15))))
        texts.append(text)
    return texts


def test_kafka_reads_every_jaas_value_as_parse_jaas_config_does(tmp_path: Path) -> None:
    values = [text for text, _ in ACCEPTED.values()] + [text for text, _ in REFUSED.values()]
    values += generated(3000)
    kafka = kafka_reads(values, tmp_path)
    differ = [(value, k) for value, k in zip(values, kafka, strict=True) if ours(value) != k]
    assert differ == []
    # the table's own verdicts, as Kafka gives them
    assert all(result is not None for result in kafka[: len(ACCEPTED)])
    assert all(result is None for result in kafka[len(ACCEPTED) : len(ACCEPTED) + len(REFUSED)])
    assert sum(result is not None for result in kafka) > 150  # the generated ones test both ways
