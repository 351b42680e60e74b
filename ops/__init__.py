"""Operations glue around the core: environment, the ZenML stack, MLflow lineage. Imports ZenML lazily."""
