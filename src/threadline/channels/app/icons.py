"""Draw the customer page's icons (the PWA's home-screen icons) with Pillow.

Run once when the design changes: `python -m threadline.channels.app.icons`; the PNGs it
writes are shipped in web/static/app/ (Pillow is not needed at run time). A speech bubble
on the brand colour, with a safe zone wide enough for maskable icons.
"""

from __future__ import annotations

from pathlib import Path

from threadline.channels.app.brand import DEFAULT_COLOR, STATIC

SIZES = (192, 512)


def draw(size: int, color: str = DEFAULT_COLOR) -> object:
    from PIL import Image, ImageDraw  # only this build step needs Pillow

    image = Image.new("RGBA", (size, size), color)
    pen = ImageDraw.Draw(image)
    unit = size / 24  # the same 24-unit grid as icon.svg
    bubble = [unit * 6, unit * 6.5, unit * 18, unit * 15.5]
    pen.rounded_rectangle(bubble, radius=unit * 2, fill="white")
    pen.polygon(
        [(unit * 8, unit * 15), (unit * 8, unit * 18.5), (unit * 11.5, unit * 15)], fill="white"
    )
    for x in (9.5, 12, 14.5):
        r = unit * 0.9
        pen.ellipse([unit * x - r, unit * 11 - r, unit * x + r, unit * 11 + r], fill=color)
    return image


def main(target: Path = STATIC) -> None:
    for size in SIZES:
        draw(size).save(target / f"icon-{size}.png", optimize=True)  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
