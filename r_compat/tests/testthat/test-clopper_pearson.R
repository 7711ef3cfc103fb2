test_that("one-sided Clopper-Pearson bounds equal binom.test", {
  for (n in c(1, 3, 20, 1000)) for (x in unique(c(0, 1, n %/% 2, n))) for (a in c(0.001, 0.05)) {
    expect_equal(clopper_pearson_bound(x, n, a)$bound,
                 binom.test(x, n, alternative = "greater", conf.level = 1 - a)$conf.int[1],
                 tolerance = 1e-12)
    expect_equal(clopper_pearson_bound(x, n, a, "upper")$bound,
                 binom.test(x, n, alternative = "less", conf.level = 1 - a)$conf.int[2],
                 tolerance = 1e-12)
  }
})

test_that("the lower bound is the alpha quantile of Beta(x, n - x + 1)", {
  r <- clopper_pearson_bound(c(0, 5, 100), c(10, 10, 100), 0.001)
  expect_equal(r$bound, c(0, qbeta(0.001, 5, 6), 0.001^(1 / 100)), tolerance = 1e-12)
})

test_that("bad input gives clear errors", {
  expect_error(clopper_pearson_bound(3, 2), "successes <= n")
  expect_error(clopper_pearson_bound(1.5, 2), "whole numbers")
  expect_error(clopper_pearson_bound(1, 2, alpha = 1), "between 0 and 1")
  expect_error(clopper_pearson_bound(1, 2, side = "both"), "must be one of")
})

test_that("no counts give an empty result, as in Python", {
  r <- clopper_pearson_bound(integer(0), 10)  # was "missing value where TRUE/FALSE needed"
  expect_length(r$bound, 0)
})
