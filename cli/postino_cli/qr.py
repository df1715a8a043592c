"""A QR code PNG drawn in the terminal with half blocks, decoded in pure Python.

Only what WAHA and the local fake serve: non-interlaced greyscale, RGB, palette, greyscale
with alpha and RGBA, at 8 bits (and 1, 2 or 4 bits for greyscale and palette).
"""

import struct
import zlib
from dataclasses import dataclass
from itertools import pairwise

SIGNATURE = b"\x89PNG\r\n\x1a\n"
CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # colour type → samples per pixel


class PngError(ValueError):
    pass


@dataclass(frozen=True)
class Bitmap:
    """Dark (True) or light pixels, row by row."""

    width: int
    height: int
    dark: list[list[bool]]


def decode_png(png: bytes) -> Bitmap:
    try:
        return _decode(png)
    except (zlib.error, struct.error, IndexError) as error:  # a truncated or corrupt file
        raise PngError(f"a damaged PNG ({error})") from error


def _decode(png: bytes) -> Bitmap:
    if not png.startswith(SIGNATURE):
        raise PngError("not a PNG")
    chunks = _chunks(png)
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunks[b"IHDR"])
    if colour not in CHANNELS or interlace or (depth != 8 and colour not in (0, 3)):
        raise PngError(
            f"unsupported PNG: colour type {colour}, depth {depth}, interlace {interlace}"
        )
    channels = CHANNELS[colour]
    raw = zlib.decompress(chunks.get(b"IDAT", b""))
    stride = (width * channels * depth + 7) // 8
    rows = _unfilter(raw, stride, height, max(1, channels * depth // 8))
    palette = chunks.get(b"PLTE", b"")
    dark = [
        [_luminance(pixel, colour, palette) < 128 for pixel in _pixels(row, width, channels, depth)]
        for row in rows
    ]
    return Bitmap(width, height, dark)


def _chunks(png: bytes) -> dict[bytes, bytes]:
    """Chunks by kind; the IDAT chunks joined, as the image data spans them."""
    chunks: dict[bytes, bytes] = {}
    at = len(SIGNATURE)
    while at + 8 <= len(png):
        length, kind = struct.unpack(">I4s", png[at : at + 8])
        chunks[kind] = chunks.get(kind, b"") + png[at + 8 : at + 8 + length]
        at += 12 + length
    if b"IHDR" not in chunks:
        raise PngError("no IHDR chunk")
    return chunks


def _unfilter(raw: bytes, stride: int, height: int, bpp: int) -> list[bytes]:
    rows: list[bytes] = []
    previous = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for x in range(stride):
            left = line[x - bpp] if x >= bpp else 0
            up = previous[x]
            upper_left = previous[x - bpp] if x >= bpp else 0
            if kind == 1:
                line[x] = (line[x] + left) & 0xFF
            elif kind == 2:
                line[x] = (line[x] + up) & 0xFF
            elif kind == 3:
                line[x] = (line[x] + (left + up) // 2) & 0xFF
            elif kind == 4:
                line[x] = (line[x] + _paeth(left, up, upper_left)) & 0xFF
            elif kind != 0:
                raise PngError(f"unknown filter type {kind}")
        rows.append(bytes(line))
        previous = line
    return rows


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def _pixels(row: bytes, width: int, channels: int, depth: int) -> list[tuple[int, ...]]:
    if depth == 8:
        return [tuple(row[x * channels : (x + 1) * channels]) for x in range(width)]
    # Packed samples (greyscale or palette only), most significant bits first.
    per_byte, mask = 8 // depth, (1 << depth) - 1
    return [
        ((row[x // per_byte] >> (8 - depth * (x % per_byte + 1))) & mask,) for x in range(width)
    ]


def _luminance(pixel: tuple[int, ...], colour: int, palette: bytes) -> float:
    if colour == 3:
        pixel = tuple(palette[pixel[0] * 3 : pixel[0] * 3 + 3])
        colour = 2
    alpha = pixel[-1] / 255 if colour in (4, 6) else 1.0
    if colour in (0, 4):
        grey = float(pixel[0])
    else:
        red, green, blue = pixel[:3]
        grey = 0.299 * red + 0.587 * green + 0.114 * blue
    return grey * alpha + 255 * (1 - alpha)  # transparent counts as the light background


def draw(bitmap: Bitmap) -> str:
    """The module grid, two modules per character cell: dark modules are blocks."""
    modules = module_grid(bitmap)
    if not modules:
        return ""
    blank = [False] * len(modules[0])
    lines = []
    for y in range(0, len(modules), 2):
        top, bottom = modules[y], modules[y + 1] if y + 1 < len(modules) else blank
        lines.append("".join(_half_block(t, b) for t, b in zip(top, bottom, strict=True)))
    return "\n".join(lines)


def _half_block(top: bool, bottom: bool) -> str:
    return {(True, True): "█", (True, False): "▀", (False, True): "▄"}.get((top, bottom), " ")


def module_grid(bitmap: Bitmap) -> list[list[bool]]:
    """Sample the centre of each module inside the dark pixels' bounding box.

    A module's size is the shortest run of one colour, across rows and columns: a QR code has
    single-module runs everywhere, and a scaled PNG repeats each module the same number of times.
    """
    dark_rows = [y for y in range(bitmap.height) if any(bitmap.dark[y])]
    dark_cols = [x for x in range(bitmap.width) if any(row[x] for row in bitmap.dark)]
    if not dark_rows:
        return []
    top, bottom, left, right = dark_rows[0], dark_rows[-1], dark_cols[0], dark_cols[-1]
    lines = [bitmap.dark[y][left : right + 1] for y in range(top, bottom + 1)]
    columns = [[line[x] for line in lines] for x in range(right - left + 1)]
    size = min(_shortest_run(line) for line in lines + columns)
    return [
        [lines[y][x] for x in range(size // 2, len(lines[0]), size)]
        for y in range(size // 2, len(lines), size)
    ]


def _shortest_run(line: list[bool]) -> int:
    shortest, run = len(line), 1
    for before, after in pairwise(line):
        if before == after:
            run += 1
        else:
            shortest, run = min(shortest, run), 1
    return min(shortest, run)
