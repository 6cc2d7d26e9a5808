from codecurate.pipeline.op import (  # noqa: F401
    BatchResult, Decision, DropRecord, Dropped, Expander, FieldsConfig, Filter, GlobalOp, Mapper, Op, OpConfig, OpError,
)
from codecurate.pipeline.registry import all_ops, get_op, register  # noqa: F401
