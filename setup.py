"""Build hook: the top-level ``sql/*.sql`` go into the package as ``chroma_frame/sql/`` (and into sdists).

Everything else is configured in pyproject.toml.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

SQL = Path(__file__).resolve().parent / "sql"


class BuildPyWithSQL(build_py):
    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "chroma_frame" / "sql"
        self.mkpath(str(target))
        for path in sorted(SQL.glob("*.sql")):
            self.copy_file(str(path), str(target / path.name))

    def get_source_files(self) -> list[str]:
        return super().get_source_files() + [str(p.relative_to(SQL.parent)) for p in sorted(SQL.glob("*.sql"))]


setup(cmdclass={"build_py": BuildPyWithSQL})
