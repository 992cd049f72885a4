"""WIPO ST.96: namespaces, hardened XML parsing, package validation, XML writers.

Pure: no web framework, no database driver.
"""
