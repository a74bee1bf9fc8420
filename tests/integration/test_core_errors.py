"""nsqd core, TCP V2 errors: every error code with NSQ 1.3's exact text (nsqd/protocol_v2.go,
client_v2.go, channel.go, protocol_v2_test.go), and which errors close the connection (all but
E_FIN_FAILED, E_REQ_FAILED, E_TOUCH_FAILED)."""

import json
import struct

import pytest

import cnsq

# One nsqd for these cases, with small limits:
LIMIT_ARGS = ("--max-msg-size=100", "--max-body-size=1000", "--max-rdy-count=50")

ID = b"0123456789abcdef"  # a well-formed id that is not in flight
BAD = "bad!name"


def mpub_body(bodies):
    return cnsq.encode_mpub_body(bodies)


def raw_mpub(topic, payload):
    """MPUB with an explicit payload (count + sized messages) framed by its length."""
    return f"MPUB {topic}\n".encode() + struct.pack(">I", len(payload)) + payload


def identify_cmd(obj):
    body = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
    return b"IDENTIFY\n" + cnsq.encode_body(body)


# (id, state, bytes to send, exact error text or prefix ending in "*")
FATAL_CASES = [
    # unknown / malformed commands
    ("unknown-command", "fresh", b"ASDF\n", "E_INVALID invalid command ASDF"),
    ("lowercase-command", "fresh", b"pub topic\n", "E_INVALID invalid command pub"),
    ("empty-line", "fresh", b"\n", "E_INVALID*"),
    ("binary-garbage", "fresh", b"\x00\x01\x02\xff garbage\n", "E_INVALID*"),
    # IDENTIFY
    ("identify-size-0", "fresh", b"IDENTIFY\n\x00\x00\x00\x00",
     "E_BAD_BODY IDENTIFY invalid body size 0"),
    ("identify-negative-size", "fresh", b"IDENTIFY\n\xff\xff\xff\xff",
     "E_BAD_BODY IDENTIFY invalid body size -1"),
    ("identify-too-big", "fresh", b"IDENTIFY\n" + struct.pack(">I", 1001) + b" " * 1001,
     "E_BAD_BODY IDENTIFY body too big 1001 > 1000"),
    ("identify-bad-json", "fresh", identify_cmd(b"{not json"),
     "E_BAD_BODY IDENTIFY failed to decode JSON body"),
    ("identify-heartbeat-too-small", "fresh", identify_cmd({"heartbeat_interval": 999}),
     "E_BAD_BODY IDENTIFY heartbeat interval (999) is invalid"),
    ("identify-heartbeat-too-big", "fresh", identify_cmd({"heartbeat_interval": 60001}),
     "E_BAD_BODY IDENTIFY heartbeat interval (60001) is invalid"),
    ("identify-heartbeat-minus-2", "fresh", identify_cmd({"heartbeat_interval": -2}),
     "E_BAD_BODY IDENTIFY heartbeat interval (-2) is invalid"),
    ("identify-obuf-size-small", "fresh", identify_cmd({"output_buffer_size": 63}),
     "E_BAD_BODY IDENTIFY output buffer size (63) is invalid"),
    ("identify-obuf-size-big", "fresh", identify_cmd({"output_buffer_size": 65537}),
     "E_BAD_BODY IDENTIFY output buffer size (65537) is invalid"),
    ("identify-obuf-timeout-small", "fresh", identify_cmd({"output_buffer_timeout": 10}),
     "E_BAD_BODY IDENTIFY output buffer timeout (10) is invalid"),
    ("identify-obuf-timeout-big", "fresh", identify_cmd({"output_buffer_timeout": 30001}),
     "E_BAD_BODY IDENTIFY output buffer timeout (30001) is invalid"),
    ("identify-sample-rate-100", "fresh", identify_cmd({"sample_rate": 100}),
     "E_BAD_BODY IDENTIFY sample rate (100) is invalid"),
    ("identify-sample-rate-negative", "fresh", identify_cmd({"sample_rate": -1}),
     "E_BAD_BODY IDENTIFY sample rate (-1) is invalid"),
    ("identify-msg-timeout-small", "fresh", identify_cmd({"msg_timeout": 999}),
     "E_BAD_BODY IDENTIFY msg timeout (999) is invalid"),
    ("identify-msg-timeout-big", "fresh", identify_cmd({"msg_timeout": 900001}),
     "E_BAD_BODY IDENTIFY msg timeout (900001) is invalid"),
    ("identify-deflate-and-snappy", "fresh",
     identify_cmd({"feature_negotiation": True, "deflate": True, "snappy": True}),
     "E_IDENTIFY_FAILED cannot enable both deflate and snappy compression"),
    ("identify-after-sub", "subscribed", identify_cmd({"client_id": "late"}),
     "E_INVALID cannot IDENTIFY in current state"),
    # SUB
    ("sub-no-params", "fresh", b"SUB\n", "E_INVALID SUB insufficient number of parameters"),
    ("sub-one-param", "fresh", b"SUB topic\n", "E_INVALID SUB insufficient number of parameters"),
    ("sub-bad-topic", "fresh", f"SUB {BAD} ch\n".encode(),
     f'E_BAD_TOPIC SUB topic name "{BAD}" is not valid'),
    ("sub-topic-too-long", "fresh", f"SUB {'t' * 65} ch\n".encode(),
     f'E_BAD_TOPIC SUB topic name "{"t" * 65}" is not valid'),
    ("sub-topic-colon", "fresh", b"SUB a:b ch\n", 'E_BAD_TOPIC SUB topic name "a:b" is not valid'),
    ("sub-topic-bad-suffix", "fresh", b"SUB a#eph ch\n",
     'E_BAD_TOPIC SUB topic name "a#eph" is not valid'),
    ("sub-bad-channel", "fresh", f"SUB topic {BAD}\n".encode(),
     f'E_BAD_CHANNEL SUB channel name "{BAD}" is not valid'),
    ("sub-channel-too-long", "fresh", f"SUB topic {'c' * 65}\n".encode(),
     f'E_BAD_CHANNEL SUB channel name "{"c" * 65}" is not valid'),
    ("sub-twice", "subscribed", b"SUB other ch\n", "E_INVALID cannot SUB in current state"),
    ("sub-heartbeats-disabled", "no-heartbeat", b"SUB topic ch\n",
     "E_INVALID cannot SUB with heartbeats disabled"),
    # RDY
    ("rdy-before-sub", "fresh", b"RDY 1\n", "E_INVALID cannot RDY in current state"),
    ("rdy-not-a-number", "subscribed", b"RDY abc\n", "E_INVALID RDY could not parse count abc"),
    ("rdy-negative", "subscribed", b"RDY -1\n", "E_INVALID RDY could not parse count -1"),
    ("rdy-above-max", "subscribed", b"RDY 51\n", "E_INVALID RDY count 51 out of range 0-50"),
    # FIN / REQ / TOUCH
    ("fin-before-sub", "fresh", b"FIN " + ID + b"\n", "E_INVALID cannot FIN in current state"),
    ("fin-no-id", "subscribed", b"FIN\n", "E_INVALID FIN insufficient number of params"),
    ("fin-short-id", "subscribed", b"FIN abc\n", "E_INVALID invalid message ID"),
    ("fin-long-id", "subscribed", b"FIN " + ID + b"0\n", "E_INVALID invalid message ID"),
    ("req-before-sub", "fresh", b"REQ " + ID + b" 0\n", "E_INVALID cannot REQ in current state"),
    ("req-no-timeout", "subscribed", b"REQ " + ID + b"\n",
     "E_INVALID REQ insufficient number of params"),
    ("req-bad-id", "subscribed", b"REQ abc 0\n", "E_INVALID invalid message ID"),
    ("req-bad-timeout", "subscribed", b"REQ " + ID + b" abc\n",
     "E_INVALID REQ could not parse timeout abc"),
    ("touch-before-sub", "fresh", b"TOUCH " + ID + b"\n",
     "E_INVALID cannot TOUCH in current state"),
    ("touch-no-id", "subscribed", b"TOUCH\n", "E_INVALID TOUCH insufficient number of params"),
    ("touch-bad-id", "subscribed", b"TOUCH abc\n", "E_INVALID invalid message ID"),
    # CLS
    ("cls-before-sub", "fresh", b"CLS\n", "E_INVALID cannot CLS in current state"),
    # PUB
    ("pub-no-topic", "fresh", b"PUB\n", "E_INVALID PUB insufficient number of parameters"),
    ("pub-bad-topic", "fresh", f"PUB {BAD}\n".encode() + cnsq.encode_body(b"x"),
     f'E_BAD_TOPIC PUB topic name "{BAD}" is not valid'),
    ("pub-size-0", "fresh", b"PUB t\n\x00\x00\x00\x00",
     "E_BAD_MESSAGE PUB invalid message body size 0"),
    ("pub-negative-size", "fresh", b"PUB t\n\xff\xff\xff\xff",
     "E_BAD_MESSAGE PUB invalid message body size -1"),
    ("pub-too-big", "fresh", b"PUB t\n" + cnsq.encode_body(b"x" * 101),
     "E_BAD_MESSAGE PUB message too big 101 > 100"),
    ("pub-too-big-subscribed", "subscribed", b"PUB t\n" + cnsq.encode_body(b"x" * 105),
     "E_BAD_MESSAGE PUB message too big 105 > 100"),
    # MPUB
    ("mpub-no-topic", "fresh", b"MPUB\n", "E_INVALID MPUB insufficient number of parameters"),
    ("mpub-bad-topic", "fresh", raw_mpub(BAD, mpub_body([b"x"])), "E_BAD_TOPIC*"),
    ("mpub-size-0", "fresh", b"MPUB t\n\x00\x00\x00\x00", "E_BAD_BODY MPUB invalid body size 0"),
    ("mpub-body-too-big", "fresh", raw_mpub("t", mpub_body([b"x" * 100] * 11)),
     "E_BAD_BODY MPUB body too big 1148 > 1000"),
    ("mpub-count-0", "fresh", raw_mpub("t", struct.pack(">I", 0)),
     "E_BAD_BODY MPUB invalid message count 0"),
    ("mpub-count-too-many", "fresh", raw_mpub("t", struct.pack(">I", 200) + b"\x00" * 8),
     "E_BAD_BODY MPUB invalid message count 200"),
    ("mpub-empty-message", "fresh", raw_mpub("t", mpub_body([b"x" * 100] * 5 + [b""])),
     "E_BAD_MESSAGE MPUB invalid message(5) body size 0"),
    ("mpub-message-too-big", "fresh", raw_mpub("t", mpub_body([b"x" * 101] * 5)),
     "E_BAD_MESSAGE MPUB message too big 101 > 100"),
    # DPUB
    ("dpub-no-params", "fresh", b"DPUB\n", "E_INVALID DPUB insufficient number of parameters"),
    ("dpub-no-timeout", "fresh", b"DPUB t\n",
     "E_INVALID DPUB insufficient number of parameters"),
    ("dpub-bad-topic", "fresh", f"DPUB {BAD} 10\n".encode() + cnsq.encode_body(b"x"),
     f'E_BAD_TOPIC DPUB topic name "{BAD}" is not valid'),
    ("dpub-bad-timeout", "fresh", b"DPUB t abc\n" + cnsq.encode_body(b"x"),
     "E_INVALID DPUB could not parse timeout abc"),
    ("dpub-timeout-out-of-range", "fresh", b"DPUB t 3600001\n" + cnsq.encode_body(b"x"),
     "E_INVALID DPUB timeout 3600001 out of range 0-3600000"),
    ("dpub-size-0", "fresh", b"DPUB t 10\n\x00\x00\x00\x00",
     "E_BAD_MESSAGE DPUB invalid message body size 0"),
    ("dpub-too-big", "fresh", b"DPUB t 10\n" + cnsq.encode_body(b"x" * 101),
     "E_BAD_MESSAGE DPUB message too big 101 > 100"),
    # AUTH without --auth-http-address
    ("auth-disabled", "fresh", b"AUTH\n" + cnsq.encode_body(b"secret"),
     "E_AUTH_DISABLED AUTH disabled"),
    ("auth-size-0", "fresh", b"AUTH\n\x00\x00\x00\x00", "E_BAD_BODY AUTH invalid body size 0"),
    ("auth-after-sub", "subscribed", b"AUTH\n" + cnsq.encode_body(b"secret"),
     "E_INVALID cannot AUTH in current state"),
]


@pytest.fixture
def limited_nsqd(nsqd_factory):
    return nsqd_factory(*LIMIT_ARGS)


def open_in_state(nsqd, state):
    c = nsqd.connect()
    if state == "subscribed":
        c.sub("errtopic", "errchannel")
    elif state == "no-heartbeat":
        assert c.identify(heartbeat_interval=-1) == b"OK"
    else:
        assert state == "fresh", state
    return c


def check_error(text, expected):
    if expected.endswith("*"):
        assert text.startswith(expected[:-1]), (text, expected)
    else:
        assert text == expected


@pytest.mark.parametrize("state, data, expected", [c[1:] for c in FATAL_CASES],
                         ids=[c[0] for c in FATAL_CASES])
def test_fatal_error_closes_connection(limited_nsqd, state, data, expected):
    with open_in_state(limited_nsqd, state) as c:
        c.send_raw(data)
        text = c.expect_error("E_")
        check_error(text, expected)
        c.assert_closed()
    # the daemon keeps serving
    with limited_nsqd.connect() as other:
        other.assert_open()
    assert limited_nsqd.ping().body == b"OK"


@pytest.mark.parametrize("magic", [b"  V1", b"  V3", b"XXXX", b"GET ", b"\x00\x00\x00\x00"])
def test_bad_protocol_magic(limited_nsqd, magic):
    with limited_nsqd.connect(magic=magic) as c:
        ftype, data = c.read_frame()
        assert (ftype, data) == (cnsq.FRAME_ERROR, b"E_BAD_PROTOCOL")
        c.assert_closed()


@pytest.mark.parametrize("cmd, code", [("FIN", "E_FIN_FAILED"), ("REQ", "E_REQ_FAILED"),
                                       ("TOUCH", "E_TOUCH_FAILED")])
def test_unknown_id_errors_are_not_fatal(limited_nsqd, cmd, code):
    with open_in_state(limited_nsqd, "subscribed") as c:
        for _ in range(3):
            line = f"{cmd} {ID.decode()}" + (" 0" if cmd == "REQ" else "")
            c.send_cmd(line)
            text = c.expect_error(code)
            assert text == f"{code} {cmd} {ID.decode()} failed ID not in flight"
        c.expect_no_frame(0.2)
        # still usable: publish, receive, finish
        c.pub("errtopic", b"still-alive")
        c.rdy(1)
        m = c.read_message()
        assert m.body == b"still-alive"
        c.fin(m)
        c.assert_open_subscribed()


def test_req_of_unknown_id_with_huge_timeout_is_not_fatal(limited_nsqd):
    with open_in_state(limited_nsqd, "subscribed") as c:
        c.send_cmd(f"REQ {ID.decode()} 99999999999")
        assert c.expect_error("E_REQ_FAILED").endswith("failed ID not in flight")
        c.assert_open_subscribed()


def test_rdy_at_max_is_fine(limited_nsqd):
    with open_in_state(limited_nsqd, "subscribed") as c:
        c.rdy(50)
        c.rdy(0)
        c.assert_open_subscribed()


def test_fatal_error_on_consumer_keeps_messages(limited_nsqd):
    """A consumer killed by a fatal error: its channel and queued messages stay."""
    d = limited_nsqd
    with d.connect() as pub:
        pub.mpub("keep", [b"1", b"2", b"3"])
    with d.consumer("keep", "ch") as c:
        c.send_raw(b"RDY 999\n")
        c.expect_error("E_INVALID")
        c.assert_closed()
    ch = d.wait_channel("keep", "ch", client_count=0)
    assert ch["depth"] == 3
    with d.consumer("keep", "ch", rdy=10) as c2:
        assert sorted(m.body for m in c2.read_messages(3)) == [b"1", b"2", b"3"]
