"""Small shared library for the definitions: translators, the dbt project, source-system access."""
