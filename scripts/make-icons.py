#!/usr/bin/env python3
"""Draws the page's icons once: web/icon.svg and the PNGs the web app manifest names.

The SVG and the PNGs come from the same list of shapes, so they match. Run it again only to
change the icon (`python3 scripts/make-icons.py`); the outputs are committed, the build
does not run this. Standard library only: the PNGs are rasterized here with 4x4
supersampling and written with zlib.
"""
import math
import struct
import zlib
from pathlib import Path

WEB = Path(__file__).resolve().parent.parent / "web"
NIGHT = (0x20, 0x3A, 0x5C)
BRASS = (0xF2, 0xB8, 0x4B)
FACE = (0xFF, 0xF8, 0xE7)

# A 512-unit box; the clock is scaled to fit the maskable safe zone (a circle of radius 40 %).
S = 0.8
C = 256


def at(x, y):
    return (C + (x - C) * S, C + (y - C) * S)


def hand(angle_deg, length):
    a = math.radians(angle_deg)
    cx, cy = at(256, 284)
    return (cx, cy, cx + math.sin(a) * length * S, cy - math.cos(a) * length * S)


# (kind, colour, geometry): circle (x, y, r); capsule (x1, y1, x2, y2, width).
SHAPES = [
    ("circle", BRASS, (*at(150, 136), 54 * S)),
    ("circle", BRASS, (*at(362, 136), 54 * S)),
    ("capsule", BRASS, (*at(186, 420), *at(146, 466), 34 * S)),
    ("capsule", BRASS, (*at(326, 420), *at(366, 466), 34 * S)),
    ("circle", BRASS, (*at(256, 284), 170 * S)),
    ("circle", FACE, (*at(256, 284), 138 * S)),
    # 6:45: the hour hand three quarters past six, the minute hand on nine.
    ("capsule", NIGHT, (*hand(202.5, 72), 26 * S)),
    ("capsule", NIGHT, (*hand(270, 104), 18 * S)),
    ("circle", NIGHT, (*at(256, 284), 18 * S)),
]


def hexc(c):
    return "#%02x%02x%02x" % c


def svg():
    parts = [
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 512 512">',
        f'<rect width="512" height="512" rx="112" fill="{hexc(NIGHT)}"/>',
    ]
    for kind, colour, g in SHAPES:
        if kind == "circle":
            parts.append('<circle cx="%.1f" cy="%.1f" r="%.1f" fill="%s"/>' % (*g, hexc(colour)))
        else:
            parts.append(
                '<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="%.1f" stroke-linecap="round"/>'
                % (*g[:4], hexc(colour), g[4])
            )
    parts.append("</svg>\n")
    return "".join(parts)


def inside(kind, g, x, y):
    if kind == "circle":
        return (x - g[0]) ** 2 + (y - g[1]) ** 2 <= g[2] ** 2
    x1, y1, x2, y2, w = g
    dx, dy = x2 - x1, y2 - y1
    t = max(0.0, min(1.0, ((x - x1) * dx + (y - y1) * dy) / (dx * dx + dy * dy)))
    px, py = x1 + t * dx, y1 + t * dy
    return (x - px) ** 2 + (y - py) ** 2 <= (w / 2) ** 2


def png(size):
    """Full-bleed (the manifest marks it maskable; launchers round it themselves)."""
    scale = 512 / size
    n = 4
    rows = []
    for py in range(size):
        row = bytearray([0])
        for px in range(size):
            acc = [0, 0, 0]
            for sy in range(n):
                for sx in range(n):
                    x = (px + (sx + 0.5) / n) * scale
                    y = (py + (sy + 0.5) / n) * scale
                    colour = NIGHT
                    for kind, c, g in SHAPES:
                        if inside(kind, g, x, y):
                            colour = c
                    for i in range(3):
                        acc[i] += colour[i]
            row.extend(round(a / (n * n)) for a in acc)
        rows.append(bytes(row))
    raw = b"".join(rows)

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


if __name__ == "__main__":
    (WEB / "icon.svg").write_text(svg())
    for size in (192, 512):
        (WEB / f"icon-{size}.png").write_bytes(png(size))
    print("wrote web/icon.svg, web/icon-192.png, web/icon-512.png")
