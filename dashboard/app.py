"""``make dashboard``: the reporting dashboard. Run with ``streamlit run dashboard/app.py`` (``journey dashboard``)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

VIEWS = Path(__file__).parent / "views"

# (view file, title, icon): the order of the sidebar; url paths are the file names
PAGES = (
    ("overview", "Overview", ":material/dashboard:"),
    ("channels", "Channels", ":material/hub:"),
    ("journeys", "Journeys", ":material/route:"),
    ("customer_value", "Customer value", ":material/savings:"),
    ("campaigns", "Campaigns", ":material/campaign:"),
    ("cohorts", "Cohorts", ":material/grid_on:"),
    ("experience", "Experience", ":material/sentiment_satisfied:"),
    ("customer_lookup", "Customer lookup", ":material/person_search:"),
)


def main() -> None:
    st.set_page_config(page_title="Journey Warehouse", page_icon=":material/insights:", layout="wide")
    page = st.navigation(
        [st.Page(VIEWS / f"{name}.py", title=title, icon=icon, url_path=name, default=(name == "overview"))
         for name, title, icon in PAGES
         if (VIEWS / f"{name}.py").exists()]  # a page not written yet is left out (tests/test_dashboard.py names it)
    )
    page.run()


if __name__ == "__main__":  # streamlit runs the script as __main__; importing it (for PAGES) runs nothing
    main()
