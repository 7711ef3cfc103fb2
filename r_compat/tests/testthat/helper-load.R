# From a source checkout (testthat::test_dir("r_compat/tests/testthat")) the
# package code is sourced, so the tests check the files as they are; after
# R CMD INSTALL / R CMD check the installed package is used.
.robustsk_src <- file.path("..", "..", "R")
if (file.exists(file.path(.robustsk_src, "mcnemar_test.R"))) {
  for (.f in sort(list.files(.robustsk_src, pattern = "[.]R$", full.names = TRUE))) {
    source(.f, local = TRUE)
  }
} else {
  library(robustsk)
}

# Long-form helpers shared by the tests.
make_vectors <- function(n11, b, c, n22) {
  list(a = rep(c(TRUE, TRUE, FALSE, FALSE), c(n11, b, c, n22)),
       b = rep(c(TRUE, FALSE, TRUE, FALSE), c(n11, b, c, n22)))
}
