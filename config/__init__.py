"""The sample model registry and optimizer hierarchy (model_registry.json, optimizer.json),
shipped inside the package as `modelrouter.config`, so a wheel installed anywhere finds them."""
