"""Step 7 of formats/lba.md section 8: the table's members, types, ranges, enumerations,
names and cross-references (section sizes against the shapes are step 8, `lba_reader`)."""

from __future__ import annotations

import json
import math
from typing import Any

from . import _json
from .lba_format import (CARRIED, CONTENTS, DORA_MAGNITUDE, DTYPE_BITS, FORMAT_NAME, KINDS, LAYOUT_MINOR, MAX_BINARY_RANK_MULTIPLE,
                         MAX_DIM, MAX_INT, MINOR, MODULE_CONTENTS, ROLES, SCALE_A, SCALE_WIDTH, CarriedKey, Key,
                         LBAError, ModuleKey, SectionKey, SourceKey, bounded_product)

INT, NUMBER, STR, LIST, OBJ = "int", "number", "str", "list", "obj"


class TableReader:
    """Checks a parsed table; afterwards `modules`, `carried` and `sections` hold its entries
    (plain dicts keyed by the table's member names, plus `refs`/`owner`)."""

    def __init__(self, path: str, version: tuple[int, int], table: Any) -> None:
        self.path = path
        self.version = version
        self.table = table
        self.strict = version[1] <= MINOR      # a newer minor's unknown members are skipped
        self.has_roles = version[1] >= 1
        self.layout = ""
        self.scale_dtype = ""
        self.metadata: dict[str, str] = {}
        self.modules: list[dict[str, Any]] = []
        self.carried: list[dict[str, Any]] = []
        self.sections: list[dict[str, Any]] = []

    def fail(self, context: str, problem: str) -> LBAError:
        return LBAError(f"{self.path}: {context}: {problem}")

    def read(self) -> None:
        root = self.read_header()
        self.sections = [self.read_section(index, value) for index, value in enumerate(root[Key.SECTIONS])]
        if not root[Key.MODULES]:
            raise self.fail("table", "the module list is empty")
        names: set[str] = set()
        self.modules = [self.read_module(index, value, names) for index, value in enumerate(root[Key.MODULES])]
        tensor_names: set[str] = set()
        self.carried = [self.read_carried(index, value, tensor_names) for index, value in enumerate(root[Key.CARRIED])]
        self.check_dora_magnitudes()
        for index, s in enumerate(self.sections):
            if s[SectionKey.CONTENT] in CONTENTS and not s["claimed"]:
                raise self.fail(f"section {index}", "not referenced by its owner")

    # -- members and types ------------------------------------------------------------------

    def members(self, value: Any, context: str, required: dict[str, str], optional: dict[str, str]) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(context, f"expected an object, found {type(value).__name__}")
        if self.strict:
            for key in value:
                if key not in required and key not in optional:
                    raise self.fail(context, f"unknown member {json.dumps(key)}")
        out = {}
        for key, kind in required.items():
            if key not in value:
                raise self.fail(context, f"missing member {json.dumps(key)}")
            out[key] = self.typed(value[key], kind, context, key)
        for key, kind in optional.items():
            if key in value:
                out[key] = self.typed(value[key], kind, context, key)
        return out

    def typed(self, value: Any, kind: str, context: str, key: str) -> Any:
        if kind == INT:
            if not _json.is_integer(value) or isinstance(value, _json.Float):
                raise self.fail(context, f"member {json.dumps(key)} must be an integer")
            if not 0 <= value <= MAX_INT:
                raise self.fail(context, f"member {json.dumps(key)} is out of range ({value})")
            return value
        if kind == NUMBER:
            try:
                number = float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan
            except OverflowError:       # an integer literal beyond the binary64 range
                number = math.inf
            if not math.isfinite(number):
                raise self.fail(context, f"member {json.dumps(key)} must be a finite number")
            return number
        expected = {STR: str, LIST: list, OBJ: dict}[kind]
        if not isinstance(value, expected):
            noun = {STR: "a string", LIST: "an array", OBJ: "an object"}[kind]
            raise self.fail(context, f"member {json.dumps(key)} must be {noun}")
        return value

    # -- the parts --------------------------------------------------------------------------

    def read_header(self) -> dict[str, Any]:
        root = self.members(self.table, "table",
                            {Key.FORMAT: STR, Key.VERSION: LIST, Key.LAYOUT: STR, Key.SCALE_DTYPE: STR,
                             Key.METADATA: OBJ, Key.MODULES: LIST, Key.CARRIED: LIST, Key.SECTIONS: LIST}, {})
        if root[Key.FORMAT] != FORMAT_NAME:
            raise self.fail("table", f"format is {json.dumps(root[Key.FORMAT])}, expected \"lba\"")
        v = root[Key.VERSION]
        if (len(v) != 2 or any(isinstance(x, _json.Float) or not _json.is_integer(x) for x in v)
                or tuple(v) != self.version):
            raise self.fail("table", f"version {v} does not match the preamble's {self.version}")
        layout = root[Key.LAYOUT]
        if layout not in LAYOUT_MINOR:
            raise self.fail("table", f"unknown layout {json.dumps(layout)}")
        if self.version[1] < LAYOUT_MINOR[layout]:
            raise self.fail("table", f"layout {json.dumps(layout)} needs format version 1.{LAYOUT_MINOR[layout]}, "
                                     f"the file says {self.version[0]}.{self.version[1]}")
        if root[Key.SCALE_DTYPE] not in SCALE_WIDTH:
            raise self.fail("table", f"unknown scale_dtype {json.dumps(root[Key.SCALE_DTYPE])}")
        self.layout, self.scale_dtype = layout, root[Key.SCALE_DTYPE]
        for key, value in root[Key.METADATA].items():
            if not isinstance(value, str):
                raise self.fail("table", f"metadata {json.dumps(key)} is not a string")
            if "\x00" in key:
                raise self.fail("table", f"metadata key {json.dumps(key)} holds U+0000")
        self.metadata = dict(root[Key.METADATA])
        return root

    def read_section(self, index: int, value: Any) -> dict[str, Any]:
        context = f"section {index}"
        if not isinstance(value, dict) or not isinstance(value.get(SectionKey.CONTENT), str):
            raise self.fail(context, f"needs a string member \"{SectionKey.CONTENT}\"")
        content = value[SectionKey.CONTENT]
        owner_key = SectionKey.TENSOR if content == CARRIED else SectionKey.MODULE
        if content not in CONTENTS:
            if self.strict:
                raise self.fail(context, f"unknown content {json.dumps(content)}")
            owner: dict[str, str] = {}
        else:
            owner = {owner_key: INT}
        s = self.members(value, context, {SectionKey.CONTENT: STR, **owner, SectionKey.OFFSET: INT,
                                          SectionKey.LENGTH: INT, SectionKey.DECODED_LENGTH: INT,
                                          SectionKey.ENCODING: STR, SectionKey.CRC32C: INT}, {})
        if s[SectionKey.CRC32C] > 0xFFFFFFFF:
            raise self.fail(context, "crc32c does not fit in 32 bits")
        s["owner"] = s.get(owner_key) if content in CONTENTS else None
        s["claimed"] = False
        return s

    def claim(self, index: int, content: str, owner: int, context: str) -> dict[str, Any]:
        """Marks section `index` as referred to by `owner` as `content`."""
        if index >= len(self.sections):
            raise self.fail(context, f"{content} refers to section {index}, but there are {len(self.sections)}")
        s = self.sections[index]
        if s[SectionKey.CONTENT] != content or s["owner"] != owner:
            raise self.fail(context, f"{content} refers to section {index}, which holds "
                                     f"{s[SectionKey.CONTENT]} of another owner")
        if s["claimed"]:
            raise self.fail(context, f"section {index} is used twice")
        s["claimed"] = True
        return s

    def unique(self, name: str, names: set[str], context: str, what: str) -> None:
        if _json.nfc(name) in names:
            raise self.fail(context, f"duplicate {what} name")
        names.add(_json.nfc(name))

    def read_module(self, index: int, value: Any, names: set[str]) -> dict[str, Any]:
        optional = {ModuleKey.KERNEL: LIST, **({ModuleKey.DORA: OBJ} if self.has_roles else {})}
        m = self.members(value, f"module {index}",
                         {ModuleKey.NAME: STR, ModuleKey.KIND: STR, ModuleKey.IN: INT, ModuleKey.OUT: INT,
                          ModuleKey.RANK: INT, ModuleKey.BINARY_RANK: INT, ModuleKey.LORA_SCALE: NUMBER,
                          ModuleKey.SOURCE: OBJ, ModuleKey.SECTIONS: OBJ}, optional)
        context = f"module {json.dumps(m[ModuleKey.NAME])}"
        self.unique(m[ModuleKey.NAME], names, context, "module")
        for key in (ModuleKey.IN, ModuleKey.OUT, ModuleKey.RANK, ModuleKey.BINARY_RANK):
            if not 1 <= m[key] <= MAX_DIM:
                raise self.fail(context, f"{key} = {m[key]} is outside 1…{MAX_DIM}")
        k, rank = m[ModuleKey.BINARY_RANK], m[ModuleKey.RANK]
        if k > MAX_BINARY_RANK_MULTIPLE * rank:
            raise self.fail(context, f"binary_rank = {k} is above {MAX_BINARY_RANK_MULTIPLE} × rank = "
                                     f"{MAX_BINARY_RANK_MULTIPLE * rank}")
        if not m[ModuleKey.LORA_SCALE] > 0:
            raise self.fail(context, f"lora_scale = {m[ModuleKey.LORA_SCALE]} must be finite and above 0")
        if m[ModuleKey.KIND] not in KINDS:
            raise self.fail(context, f"unknown kind {json.dumps(m[ModuleKey.KIND])}")
        if m[ModuleKey.KIND] == "conv":
            kernel = m.get(ModuleKey.KERNEL)
            if kernel is None:
                raise self.fail(context, "conv module without kernel")
            if any(isinstance(d, _json.Float) or not _json.is_integer(d) or d < 1 for d in kernel):
                raise self.fail(context, "kernel entries must be integers >= 1")
            size = bounded_product(kernel)
            if size is None or m[ModuleKey.IN] % size:
                raise self.fail(context, f"kernel {kernel} does not divide in = {m[ModuleKey.IN]}")
        elif ModuleKey.KERNEL in m:
            raise self.fail(context, "kernel is only for conv modules")
        source = self.members(m[ModuleKey.SOURCE], context + " source",
                              {SourceKey.A: STR, SourceKey.B: STR, SourceKey.DTYPE: STR}, {SourceKey.ALPHA: STR})
        if source[SourceKey.DTYPE] not in DTYPE_BITS:
            raise self.fail(context, f"unknown source dtype {json.dumps(source[SourceKey.DTYPE])}")
        m[ModuleKey.SOURCE] = source
        refs = self.members(m[ModuleKey.SECTIONS], context + " sections",
                            {c: INT for c in MODULE_CONTENTS if c != SCALE_A}, {SCALE_A: INT})
        for content in MODULE_CONTENTS:
            if content in refs:
                self.claim(refs[content], content, index, context)
        m["refs"] = refs
        if ModuleKey.DORA in m:
            m[ModuleKey.DORA] = self.members(m[ModuleKey.DORA], context + " dora", {DORA_MAGNITUDE: STR}, {})[DORA_MAGNITUDE]
        return m

    def read_carried(self, index: int, value: Any, names: set[str]) -> dict[str, Any]:
        optional = {CarriedKey.ROLE: STR} if self.has_roles else {}
        c = self.members(value, f"carried tensor {index}", {CarriedKey.NAME: STR, CarriedKey.DTYPE: STR,
                                                            CarriedKey.SHAPE: LIST, CarriedKey.SECTION: INT}, optional)
        context = f"carried tensor {json.dumps(c[CarriedKey.NAME])}"
        self.unique(c[CarriedKey.NAME], names, context, "carried tensor")
        if c[CarriedKey.DTYPE] not in DTYPE_BITS:
            raise self.fail(context, f"unknown dtype {json.dumps(c[CarriedKey.DTYPE])}")
        if CarriedKey.ROLE in c and c[CarriedKey.ROLE] not in ROLES:
            raise self.fail(context, f"unknown role {json.dumps(c[CarriedKey.ROLE])}")
        shape = c[CarriedKey.SHAPE]
        if any(isinstance(d, _json.Float) or not _json.is_integer(d) or d < 0 for d in shape):
            raise self.fail(context, "shape entries must be non-negative integers")
        if any(d > MAX_DIM for d in shape):
            raise self.fail(context, f"a dimension of {shape} is above {MAX_DIM}")
        self.claim(c[CarriedKey.SECTION], CARRIED, index, context)
        return c

    def check_dora_magnitudes(self) -> None:
        """Each magnitude is a carried tensor of role magnitude with `out` values, of one module."""
        by_name = {_json.nfc(c[CarriedKey.NAME]): c for c in self.carried}   # names compare after NFC
        owners: set[str] = set()
        for m in self.modules:
            if ModuleKey.DORA not in m:
                continue
            context = f"module {json.dumps(m[ModuleKey.NAME])} dora"
            magnitude = m[ModuleKey.DORA]
            tensor = by_name.get(_json.nfc(magnitude))
            if tensor is None:
                raise self.fail(context, f"magnitude {json.dumps(magnitude)} is not a carried tensor")
            if tensor.get(CarriedKey.ROLE) != "magnitude":
                raise self.fail(context, f"magnitude {json.dumps(magnitude)} does not have role \"magnitude\"")
            elements = bounded_product(tensor[CarriedKey.SHAPE])
            if elements != m[ModuleKey.OUT]:
                raise self.fail(context, f"magnitude has {elements} elements, out = {m[ModuleKey.OUT]}")
            if _json.nfc(magnitude) in owners:
                raise self.fail("modules", "a DoRA magnitude is used by two modules")
            owners.add(_json.nfc(magnitude))
