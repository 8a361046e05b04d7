"""The reporting dashboard (``make dashboard``): a Streamlit app reading only the serving copy, never the warehouse."""
