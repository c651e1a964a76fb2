"""Storage: the database engine, prepared statements and numbered schema migrations.

`models.py` is the schema; this package is how it is stored: which database object a URL
makes, how hot statements are compiled once, and how an existing database is upgraded.
"""
