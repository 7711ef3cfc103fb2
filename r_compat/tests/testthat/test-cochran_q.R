test_that("Cochran's Q on the 9 x 5 example: Q = 5.565, p = 0.234", {
  # Worked example of the WaveMetrics Igor Pro statistics manual
  # (StatsCochranTest); Q = 4 * 64 / 46 by hand.
  m <- cbind(c(0, 0, 0, 0, 0, 1, 1, 1, 1), c(0, 0, 0, 1, 1, 1, 1, 0, 0), rep(0, 9),
             c(0, 0, 1, 1, 1, 1, 0, 0, 0), c(1, 1, 1, 1, 0, 0, 0, 0, 0))
  r <- cochran_q(m)
  expect_equal(r$statistic, 256 / 46, tolerance = 1e-12)
  expect_equal(round(r$pvalue, 6), 0.234056)
  expect_equal(r$df, 4)
  expect_equal(nrow(r$pairwise), 10)
})

test_that("with k = 2, Q equals McNemar without continuity correction", {
  v <- make_vectors(794, 150, 86, 570)
  q <- cochran_q(v$a, v$b)
  m <- mcnemar_test(v$a, v$b, exact = FALSE, correction = FALSE)
  expect_equal(q$statistic, m$statistic, tolerance = 1e-12)
  expect_equal(q$pvalue, m$pvalue, tolerance = 1e-12)
})

test_that("pairwise p-values are adjusted with p.adjust", {
  set.seed(3)
  x <- matrix(runif(60 * 4) < c(0.3, 0.5, 0.6, 0.8), ncol = 4, byrow = TRUE)
  r <- cochran_q(x, names = c("a", "b", "c", "d"), p_adjust = "hommel")
  expect_equal(r$pairwise$pvalue_adjusted, p.adjust(r$pairwise$pvalue, "hommel"))
  expect_equal(r$pairwise$group_a[1:3], c("a", "a", "a"))
})

test_that("all rows constant gives NaN, fewer than two groups an error", {
  r <- cochran_q(c(TRUE, FALSE, TRUE), c(TRUE, FALSE, TRUE), c(TRUE, FALSE, TRUE))
  expect_true(is.nan(r$statistic))
  expect_error(cochran_q(c(TRUE, FALSE)), "two or more")
  expect_error(cochran_q(c(TRUE, FALSE), c(TRUE, FALSE), p_adjust = "fdr2"), "must be one of")
})

test_that("repeated or missing defense names are refused, as in Python", {
  a <- c(TRUE, TRUE, FALSE, TRUE)
  b <- c(FALSE, TRUE, FALSE, FALSE)
  expect_error(cochran_q(a, b, names = c("x", "x")), "names must be unique.*'x' repeated")
  expect_error(cochran_q(cbind(x = a, x = b)), "names must be unique")
  expect_error(cochran_q(a, b, names = c("x", "y", "z")), "names has 3 entries for 2 defenses")
  expect_equal(cochran_q(cbind(a, b))$pairwise$group_a, "a")
  expect_equal(cochran_q(unname(cbind(a, b)))$pairwise$group_b, "group_1")
})
