"""Render pwa/icons/icon.svg to the PNG sizes Android and iOS ask for (run after editing the SVG).

    cd pwa/icons && python ../../scripts/render_icons.py
"""
from pathlib import Path

from playwright.sync_api import sync_playwright

svg = Path("icon.svg").read_text()
with sync_playwright() as p:
    b = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox","--disable-gpu"])
    for size, name in [(192, "icon-192.png"), (512, "icon-512.png"), (180, "apple-touch-icon.png")]:
        page = b.new_page(viewport={"width": size, "height": size})
        sized = svg.replace('width="512" height="512"', f'width="{size}" height="{size}"')
        # Full-bleed background: iOS rounds the corners itself; maskable icons need no transparency.
        page.set_content('<html><body style="margin:0;background:#b71c1c">' + sized + '</body></html>')
        page.screenshot(path=name)
    b.close()
