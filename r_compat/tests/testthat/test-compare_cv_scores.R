test_that("corrected t-test: variance (1/J + n_test/n_train) s^2, t on J - 1 df", {
  set.seed(1)
  fold <- rnorm(10, 0, 0.05)
  s <- cbind(a = 0.8 + fold + rnorm(10, 0, 0.01), b = 0.78 + fold + rnorm(10, 0, 0.01))
  r <- compare_cv_scores(s, n_train = 90, n_test = 10)
  d <- s[, "a"] - s[, "b"]
  se <- sqrt(var(d) * (1 / 10 + 10 / 90))
  expect_equal(r$pairwise$std_error, se)
  expect_equal(r$pairwise$pvalue, 2 * pt(-abs(mean(d) / se), 9))
  expect_equal(r$pairwise$p_better + r$pairwise$p_rope + r$pairwise$p_worse, 1)
  naive <- compare_cv_scores(s, correction = "none")
  expect_lt(naive$pairwise$std_error, se)
})

test_that("candidates are ranked and p-values adjusted over all pairs", {
  set.seed(2)
  s <- sapply(c(x = 0.6, y = 0.9, z = 0.7), function(m) m + rnorm(8, 0, 0.02))
  r <- compare_cv_scores(s, n_train = 40, n_test = 10, p_adjust = "holm")
  expect_equal(r$summary$candidate, c("y", "z", "x"))
  expect_equal(r$pairwise$pvalue_adjusted, p.adjust(r$pairwise$pvalue, "holm"))
})

test_that("bad input is refused with what to pass", {
  expect_error(compare_cv_scores(matrix(runif(5), ncol = 1), n_train = 4, n_test = 1), "single candidate")
  expect_error(compare_cv_scores(matrix(runif(10), ncol = 2)), "n_train and n_test")
  expect_error(compare_cv_scores(matrix(runif(10), ncol = 2), n_train = 4, n_test = 1, rope = -1), "rope")
})

test_that("select_within_margin picks the cheapest eligible candidate", {
  set.seed(3)
  fold <- rnorm(20, 0, 0.04)
  s <- sapply(c(big = 0.8, small = 0.795, tiny = 0.7), function(m) m + fold + rnorm(20, 0, 0.01))
  r <- select_within_margin(s, cost = c(5, 1, 0.1), margin = 0.02, n_train = 80, n_test = 20)
  expect_equal(r$candidate, "small")
  expect_equal(r$index, 2)
  expect_false(r$table$eligible[r$table$candidate == "tiny"])
  one_se <- select_within_margin(s, cost = c(5, 1, 0.1), rule = "one-se")
  expect_equal(one_se$margin, sd(s[, "big"]) / sqrt(20))
  expect_error(select_within_margin(s, cost = 1:3, margin = -0.1), "non-negative")
})

test_that("n_train and n_test must be positive integers, names unique, as in Python", {
  s <- matrix(c(0.80, 0.82, 0.79, 0.81, 0.78, 0.80), 3)
  for (bad in list(-100, 0, -5, 2.5, NA, Inf, "90", c(90, 10))) {
    expect_error(compare_cv_scores(s, n_train = bad, n_test = 10), "n_train must be a positive integer")
    expect_error(compare_cv_scores(s, n_train = 90, n_test = bad), "n_test must be a positive integer")
  }
  expect_equal(compare_cv_scores(s, n_train = 90L, n_test = 10L)$pairwise$std_error,
               compare_cv_scores(s, n_train = 90, n_test = 10)$pairwise$std_error)
  expect_error(compare_cv_scores(s, names = c("x", "x"), n_train = 90, n_test = 10),
               "names must be unique.*'x' repeated")
  expect_error(compare_cv_scores(s, names = "x", n_train = 90, n_test = 10), "names has 1 entries for 2 candidates")
  colnames(s) <- c("x", "x")
  expect_error(compare_cv_scores(s, n_train = 90, n_test = 10), "names must be unique")
})
