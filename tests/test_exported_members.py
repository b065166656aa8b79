import recordkit


def test_all_public_names_are_exported() -> None:
    public = {name for name in dir(recordkit) if not name.startswith("_") and name not in {"annotations"}}
    # Submodules that Python attaches to the package are not API.
    modules = {name for name in public if type(getattr(recordkit, name)).__name__ == "module"}
    assert public - modules == set(recordkit.__all__) - {"__version__"}


def test_all_is_sorted() -> None:
    assert recordkit.__all__ == sorted(recordkit.__all__)
