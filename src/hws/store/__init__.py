"""Persistence: tables, repositories, migrations, blob stores."""
