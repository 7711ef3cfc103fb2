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

# Runs code under a collation that puts "madry" before "TRADES" (R's sort()
# follows LC_COLLATE, through ICU where R has it), as on most desktops; skips
# where no such collation can be set. Python sorts by code point ("TRADES"
# first), so results of the R twins must not depend on it.
with_locale_collation <- function(code) {
  old <- Sys.getlocale("LC_COLLATE")
  on.exit({
    if (capabilities("ICU")) icuSetCollate(locale = "default")
    Sys.setlocale("LC_COLLATE", old)
  }, add = TRUE)
  if (old %in% c("C", "POSIX")) {
    for (loc in c("C.UTF-8", "C.utf8", "en_US.UTF-8", "en_US.utf8")) {
      if (nzchar(suppressWarnings(Sys.setlocale("LC_COLLATE", loc)))) break
    }
  }
  if (capabilities("ICU")) icuSetCollate(locale = "en_US")
  testthat::skip_if(identical(sort(c("madry", "TRADES")), c("TRADES", "madry")),
                    "no collation other than code point order can be set here")
  force(code)
}
