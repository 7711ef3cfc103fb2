library(testthat)
library(robustsk)

test_check("robustsk")
