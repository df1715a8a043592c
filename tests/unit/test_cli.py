"""The `postino` command's own logic: parsing, bulk rows and keys, the QR drawing, errors."""

import json
import struct
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import boto3
import httpx
import pytest
from moto import mock_aws

from local.waha_peer.replies import qr_png
from postino_cli import bulk, qr
from postino_cli.client import (
    KEY_REFUSED,
    REFUSED,
    UNREACHABLE,
    USAGE,
    ApiClient,
    CliError,
    Config,
    config_from_stack,
)
from postino_cli.main import follow, main, parser, tail
from postino_cli.output import table

CSV = "phone,name,table\n+39 333 101 2001,Giulia,Amalfi\n+39 333 101 2002,Marco,Capri\n"
CONTENT = bulk.Content("booking_reminder", "it", {1: "name", 3: "table"}, ["sabato"], None)


def csv_file(tmp_path: Path, text: str = CSV, name: str = "guests.csv") -> bulk.CsvFile:
    path = tmp_path / name
    path.write_text(text)
    return bulk.read_csv(path)


# --- parsing ---------------------------------------------------------------------------------


def test_global_flags_work_before_or_after_the_command() -> None:
    before = parser().parse_args(["--json", "--stack", "prod", "messages", "--status", "read"])
    after = parser().parse_args(["messages", "--json", "--stack", "prod"])
    assert before.json and before.stack == "prod" and before.status == "read"
    assert after.json and after.stack == "prod"
    plain = parser().parse_args(["senders"])
    assert plain.json is False and plain.stack is None


def test_send_takes_template_parameters_in_order() -> None:
    args = parser().parse_args(
        [
            "send",
            "--to",
            "+39 333",
            "--template",
            "t",
            "--lang",
            "it",
            "--param",
            "a",
            "--param",
            "b",
        ]
    )
    assert args.template == "t" and args.lang == "it" and args.param == ["a", "b"]
    assert args.timeout == 120.0 and not args.wait


def test_a_session_action_must_be_one_the_api_has() -> None:
    assert parser().parse_args(["session", "bride", "qr"]).action == "qr"
    assert parser().parse_args(["session", "bride"]).action is None
    with pytest.raises(SystemExit):
        parser().parse_args(["session", "bride", "explode"])


def test_missing_configuration_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("POSTINO_API_URL", raising=False)
    monkeypatch.delenv("POSTINO_API_KEY", raising=False)
    assert main(["senders"]) == USAGE
    assert "Set POSTINO_API_URL and POSTINO_API_KEY" in capsys.readouterr().err


# --- a deployed stack ----------------------------------------------------------------------

# moto's CloudFormation cannot create an API key: the key is made first and the stack outputs
# its id, as Postino's template does with `!Ref PostinoApiKey`.
STACK_TEMPLATE = {
    "Parameters": {"KeyId": {"Type": "String"}},
    "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
    "Outputs": {
        "ApiUrl": {"Value": "https://abc.execute-api.eu-west-1.amazonaws.com/prod"},
        "ApiKeyId": {"Value": {"Ref": "KeyId"}},
    },
}


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield


def test_a_stack_gives_its_api_url_and_the_value_of_its_key(aws: None) -> None:
    key = boto3.client("apigateway").create_api_key(name="postino", value="k" * 20, enabled=True)
    boto3.client("cloudformation").create_stack(
        StackName="postino",
        TemplateBody=json.dumps(STACK_TEMPLATE),
        Parameters=[{"ParameterKey": "KeyId", "ParameterValue": key["id"]}],
    )
    config = config_from_stack("postino")
    assert config == Config("https://abc.execute-api.eu-west-1.amazonaws.com/prod", "k" * 20)
    assert "k" * 20 not in repr(config)


def test_a_missing_stack_is_a_usage_error(aws: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--stack", "nowhere", "senders"]) == USAGE
    assert capsys.readouterr().err == (
        "Cannot read the stack nowhere: Stack with id nowhere does not exist.\n"
    )


# --- bulk --------------------------------------------------------------------------------------


def test_the_same_file_and_row_give_the_same_key_and_another_row_another(tmp_path: Path) -> None:
    first, again = csv_file(tmp_path), csv_file(tmp_path)
    row_2, row_3 = bulk.numbered(first)
    assert bulk.idempotency_key(first, row_2) == bulk.idempotency_key(
        again, bulk.numbered(again)[0]
    )
    assert bulk.idempotency_key(first, row_2) != bulk.idempotency_key(first, row_3)
    edited = csv_file(tmp_path, CSV.replace("Marco", "Marta"))
    assert bulk.idempotency_key(edited, bulk.numbered(edited)[0]) != bulk.idempotency_key(
        first, row_2
    )
    assert len(bulk.idempotency_key(first, row_2)) <= 128  # the API's limit


def test_the_report_names_every_problem_of_every_row(tmp_path: Path) -> None:
    text = "phone,name,table\n,Anna,T1\n+39 333 abc,Bruno,\n+39 333 101 2009,,T3\n12,Dora,T4\n"
    rows = bulk.numbered(csv_file(tmp_path, text))
    problems = bulk.check_rows(rows, "phone", CONTENT)
    assert [(p.row, p.problem) for p in problems] == [
        (2, "no phone in column 'phone'"),
        (3, "'+39 333 abc' does not look like a phone number"),
        (3, "column 'table' is empty or missing"),
        (4, "column 'name' is empty or missing"),
        (5, "'12' does not look like a phone number"),
    ]


def test_a_text_needs_the_columns_its_placeholders_name(tmp_path: Path) -> None:
    rows = bulk.numbered(csv_file(tmp_path, "phone,name\n+39 333 101 2001,Giulia\n"))
    text = bulk.Content(None, "it", {}, [], "Ciao {name}, tavolo {table}")
    assert [p.problem for p in bulk.check_rows(rows, "phone", text)] == [
        "column 'table' is empty or missing"
    ]


def test_a_row_becomes_a_keyed_template_item_with_its_variables(tmp_path: Path) -> None:
    source = csv_file(tmp_path)
    row = bulk.numbered(source)[0]
    item = bulk.batch_item(source, row, "phone", CONTENT)
    assert item["to"] == "+39 333 101 2001"
    assert item["reference"] == f"bulk-{source.sha256[:12]}"
    assert item["idempotency_key"] == bulk.idempotency_key(source, row)
    parameters = item["template"]["components"][0]["parameters"]
    assert [p["text"] for p in parameters] == ["Giulia", "sabato", "Amalfi"]
    assert item["template"]["language"] == {"code": "it"}
    assert item["variables"] == {"phone": "+39 333 101 2001", "name": "Giulia", "table": "Amalfi"}


def test_a_link_goes_with_each_item_and_signed_link_needs_no_column(tmp_path: Path) -> None:
    source = csv_file(tmp_path)
    rows = bulk.numbered(source)
    invitation = bulk.Content(
        "wedding_invitation", "it", {1: "name", 2: "table"}, ["{signed_link}"], None,
        "https://sara-e-marco.it/rsvp",
    )  # fmt: skip
    text = bulk.Content(None, "it", {}, [], "Ciao {name}: {signed_link}", "https://a.it/r")
    assert bulk.check_rows(rows, "phone", invitation) == []
    assert bulk.check_rows(rows, "phone", text) == []
    item = bulk.batch_item(source, rows[0], "phone", invitation)
    assert item["link"] == {"url": "https://sara-e-marco.it/rsvp"}
    parameters = item["template"]["components"][0]["parameters"]
    assert [p["text"] for p in parameters] == ["Giulia", "Amalfi", "{signed_link}"]


def test_maps_parse_and_must_leave_no_gap() -> None:
    assert bulk.parse_map(["name=1", "table=2"]) == {1: "name", 2: "table"}
    with pytest.raises(ValueError, match="column=N"):
        bulk.parse_map(["name"])
    assert bulk.check_numbering({1: "name", 3: "table"}, ["x"]) is None
    assert bulk.check_numbering({1: "name", 3: "table"}, []) is not None


def test_batches_hold_at_most_100_items() -> None:
    assert [len(c) for c in bulk.chunks(list(range(250)))] == [100, 100, 50]


def test_a_bad_row_stops_the_run_before_anything_is_sent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("POSTINO_API_URL", "http://127.0.0.1:9")  # nothing may be called
    monkeypatch.setenv("POSTINO_API_KEY", "k")
    path = tmp_path / "bad.csv"
    path.write_text("phone,name\n,Anna\n")
    assert main(["bulk", str(path), "--text", "Ciao {name}"]) == USAGE
    out, err = capsys.readouterr()
    assert "2    no phone in column 'phone'" in out and "nothing was sent" in err


# --- the QR code ---------------------------------------------------------------------------

# A 5x5 module pattern: finder-like corner, a lone module, an empty row.
MODULES = [
    [1, 1, 1, 0, 1],
    [1, 0, 1, 0, 0],
    [1, 1, 1, 0, 1],
    [0, 0, 0, 0, 0],
    [1, 0, 1, 1, 0],
]


def encode_png(
    modules: list[list[int]], colour: int, scale: int, border: int, depth: int = 8
) -> bytes:
    """A PNG of the modules (dark = 1), each `scale` pixels, every row with another filter."""
    size = len(modules) * scale + 2 * border
    dark = [[False] * size for _ in range(size)]
    for y, line in enumerate(modules):
        for x, module in enumerate(line):
            for dy in range(scale):
                for dx in range(scale):
                    dark[border + y * scale + dy][border + x * scale + dx] = bool(module)
    palette = b"\xff\xff\xff\x00\x00\x00"  # index 0 white, 1 black
    dark_sample, light_sample = {
        0: (b"\x00", b"\xff"),
        2: (b"\x00\x00\x00", b"\xff\xff\xff"),
        3: (b"\x01", b"\x00"),
        4: (b"\x00\xff", b"\x00\x00"),  # light is transparent
        6: (b"\x10\x20\x30\xff", b"\xff\xff\xff\xff"),
    }[colour]
    rows = []
    for pixels in dark:
        if depth == 8:
            rows.append(b"".join(dark_sample if d else light_sample for d in pixels))
        else:  # 1-bit palette
            bits = "".join("1" if d else "0" for d in pixels).ljust((size + 7) // 8 * 8, "0")
            rows.append(bytes(int(bits[i : i + 8], 2) for i in range(0, len(bits), 8)))
    bpp = max(1, {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[colour] * depth // 8)
    raw = b"".join(
        bytes([n % 5]) + filtered(n % 5, row, rows[n - 1] if n else bytes(len(row)), bpp)
        for n, row in enumerate(rows)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", size, size, depth, colour, 0, 0, 0)
    plte = chunk(b"PLTE", palette) if colour == 3 else b""
    compressed = zlib.compress(raw)
    half = len(compressed) // 2  # two IDAT chunks: the data may span several
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + plte
        + chunk(b"IDAT", compressed[:half])
        + chunk(b"IDAT", compressed[half:])
        + chunk(b"IEND", b"")
    )


def filtered(kind: int, row: bytes, previous: bytes, bpp: int) -> bytes:
    out = bytearray()
    for x, value in enumerate(row):
        left = row[x - bpp] if x >= bpp else 0
        up = previous[x]
        upper_left = previous[x - bpp] if x >= bpp else 0
        predictor = [0, left, up, (left + up) // 2, qr._paeth(left, up, upper_left)][kind]
        out.append((value - predictor) & 0xFF)
    return bytes(out)


@pytest.mark.parametrize(("colour", "depth"), [(0, 8), (2, 8), (3, 8), (3, 1), (4, 8), (6, 8)])
def test_every_png_kind_decodes_to_the_same_modules(colour: int, depth: int) -> None:
    bitmap = qr.decode_png(encode_png(MODULES, colour, scale=3, border=4, depth=depth))
    assert qr.module_grid(bitmap) == [[bool(m) for m in line] for line in MODULES]


def test_the_qr_is_drawn_two_modules_per_character() -> None:
    drawing = qr.draw(qr.decode_png(encode_png(MODULES, 0, scale=4, border=8)))
    assert drawing.split("\n") == ["█▀█ ▀", "▀▀▀ ▀", "▀ ▀▀ "]


def test_the_local_fakes_png_decodes() -> None:
    drawing = qr.draw(qr.decode_png(qr_png("2@abc,def")))
    assert drawing and set(drawing) <= set("█▀▄ \n")


def test_not_a_png_is_an_error() -> None:
    with pytest.raises(qr.PngError):
        qr.decode_png(b"GIF89a")
    with pytest.raises(qr.PngError, match="damaged"):
        qr.decode_png(encode_png(MODULES, 0, scale=1, border=0)[:-40])


# --- output and errors ---------------------------------------------------------------------


def test_a_table_pads_columns_and_shows_none_as_empty() -> None:
    assert table(("name", "paused"), [["default", False], ["bride", None]]) == (
        "name     paused\ndefault  no\nbride"
    )


def answering(status: int, body: object = None, error: Exception | None = None) -> ApiClient:
    def handle(request: httpx.Request) -> httpx.Response:
        if error:
            raise error
        return httpx.Response(status, json=body)

    return ApiClient(Config("http://api.test", "secret"), httpx.MockTransport(handle))


@pytest.mark.parametrize(
    ("status", "body", "sentence", "code"),
    [
        (403, {"message": "Forbidden"}, KEY_REFUSED, REFUSED),
        (401, {"message": "Unauthorized"}, KEY_REFUSED, REFUSED),
        (
            404,
            {"error": {"code": "message_not_found", "message": "No message."}},
            "No message.",
            REFUSED,
        ),
        (
            503,
            {"error": {"code": "waha_unavailable", "message": "WAHA did not answer."}},
            "WAHA did not answer.",
            UNREACHABLE,
        ),
        (502, {"message": "Internal server error"}, "The API answered 502", UNREACHABLE),
    ],
)
def test_each_failure_is_one_sentence_and_an_exit_code(
    status: int, body: object, sentence: str, code: int
) -> None:
    with pytest.raises(CliError) as raised:
        answering(status, body).get("/v1/messages")
    assert str(raised.value).startswith(sentence) and raised.value.exit_code == code
    assert "secret" not in str(raised.value)


def test_no_answer_names_the_url() -> None:
    with pytest.raises(CliError) as raised:
        answering(0, error=httpx.ConnectError("Connection refused")).get("/v1/senders")
    assert str(raised.value) == "Cannot reach the API at http://api.test: Connection refused."
    assert raised.value.exit_code == UNREACHABLE


# --- following messages ------------------------------------------------------------------


class ScriptedApi(ApiClient):
    """The API as a list of moments (messages newest first): each poll of the list is the next."""

    def __init__(self, moments: list[dict[str, list[str]]]) -> None:
        super().__init__(Config("http://api.test", "secret"))
        self.moments, self.now = moments, -1

    def get(self, path: str, **params: object) -> object:
        if path == "/v1/messages":
            self.now += 1
            if self.now == len(self.moments):
                raise KeyboardInterrupt
            items = [
                {"id": i, "updated_at": str(len(e))} for i, e in self.moments[self.now].items()
            ]
            return {"items": items, "next_cursor": None}
        phases = self.moments[self.now][path.rsplit("/", 1)[1]]
        status = phases[-1]
        return {"id": "m", "status": status, "events": [{"at": "t", "phase": p} for p in phases]}


def test_tail_prints_only_what_happens_after_it_starts(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(time, "sleep", lambda seconds: None)  # polls without waiting
    api = ScriptedApi(
        [
            {"a": ["accepted", "queued"]},
            {"b": ["accepted"], "a": ["accepted", "queued", "sending"]},
            {"b": ["accepted"], "a": ["accepted", "queued", "sending"]},
        ]
    )
    assert tail(api, parser().parse_args(["tail"])) == 0
    assert capsys.readouterr().out.split("\n") == ["a  t  sending", "b  t  accepted", ""]


class OneMessage(ApiClient):
    """One message whose timeline grows by one event on each read."""

    def __init__(self, phases: list[str]) -> None:
        super().__init__(Config("http://api.test", "secret"))
        self.phases, self.reads = phases, 0

    def get(self, path: str, **params: object) -> object:
        self.reads += 1
        phases = self.phases[: self.reads]
        return {
            "id": "m",
            "status": phases[-1],
            "events": [{"at": "t", "phase": p} for p in phases],
        }


def test_waiting_prints_each_event_once_and_stops_at_a_final_status(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(time, "sleep", lambda seconds: None)  # polls without waiting
    api = OneMessage(["queued", "sent", "delivered", "read", "never-read"])
    assert follow(api, "m", timeout=60) == "read"
    assert capsys.readouterr().out.split("\n") == [
        "t  queued",
        "t  sent",
        "t  delivered",
        "t  read",
        "",
    ]


def test_waiting_stops_at_the_timeout_short_of_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(time, "sleep", lambda seconds: None)  # polls without waiting
    assert follow(OneMessage(["queued", "sent", "delivered"] * 50), "m", timeout=0) == "queued"
