"""The operator console: the International Bureau's daily work in a browser, under
``/console``. Server-rendered pages (Jinja2, autoescaped) over the same use cases and
repositories as the CLI and the operator API; a few lines of plain JavaScript shipped in
the package; nothing from elsewhere (a strict Content-Security-Policy says so).
"""
