test_that("Agresti (2013, Table 11.1) presidential approval: z^2 = 17.36", {
  v <- make_vectors(794, 150, 86, 570)
  r <- mcnemar_test(v$a, v$b, exact = FALSE, correction = FALSE)
  expect_equal(r$b, 150L)
  expect_equal(r$c, 86L)
  expect_equal(round(r$statistic, 2), 17.36)
  expect_equal(r$statistic, 64^2 / 236, tolerance = 1e-12)
  expect_lt(r$pvalue, 0.001)
})

test_that("asymptotic test equals mcnemar.test, exact equals binom.test", {
  for (cnt in list(c(5, 3, 9, 4), c(0, 1, 0, 0), c(2, 4, 4, 1), c(10, 0, 7, 3), c(1, 12, 2, 0))) {
    v <- make_vectors(cnt[1], cnt[2], cnt[3], cnt[4])
    tab <- matrix(c(cnt[1], cnt[3], cnt[2], cnt[4]), 2)
    for (corr in c(TRUE, FALSE)) {
      r <- mcnemar_test(v$a, v$b, exact = FALSE, correction = corr)
      m <- suppressWarnings(mcnemar.test(tab, correct = corr))
      expect_equal(r$statistic, unname(m$statistic), tolerance = 1e-12)
      expect_equal(r$pvalue, m$p.value, tolerance = 1e-12)
    }
    e <- mcnemar_test(v$a, v$b)
    expect_equal(e$pvalue, binom.test(cnt[2], cnt[2] + cnt[3])$p.value, tolerance = 1e-12)
    expect_equal(e$statistic, cnt[2])
  }
})

test_that("edges: b == c skips the correction; b + c == 0", {
  v <- make_vectors(3, 4, 4, 2)
  r <- mcnemar_test(v$a, v$b, exact = FALSE, correction = TRUE)
  expect_equal(r$statistic, 0)
  expect_equal(r$pvalue, 1)
  v <- make_vectors(3, 0, 0, 2)
  expect_true(is.nan(mcnemar_test(v$a, v$b, exact = FALSE)$statistic))
  expect_equal(mcnemar_test(v$a, v$b)$pvalue, 1)
  expect_error(mcnemar_test(c(TRUE, FALSE), c(TRUE)), "same length")
})

test_that("exact and correction must be TRUE or FALSE, as in Python (1, 'yes', NA are refused)", {
  v <- make_vectors(5, 6, 1, 3)
  for (bad in list(1, "yes", NA, c(TRUE, FALSE), NULL)) {
    expect_error(mcnemar_test(v$a, v$b, exact = bad), "exact must be TRUE or FALSE; got")
    expect_error(mcnemar_test(v$a, v$b, exact = FALSE, correction = bad), "correction must be TRUE or FALSE")
    expect_error(cochran_q(v$a, v$b, exact = bad), "exact must be TRUE or FALSE")
    expect_error(paired_comparison(cbind(v$a, v$b), exact = bad), "exact must be TRUE or FALSE")
  }
})
