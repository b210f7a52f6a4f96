// lordba-validate: built in the validating stage.
print("lordba-validate: not built yet")
