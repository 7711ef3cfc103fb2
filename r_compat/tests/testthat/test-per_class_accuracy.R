test_that("per-class accuracy: Wilson intervals and prop.test without correction", {
  correct <- c(rep(1, 40), rep(0, 10), rep(1, 25), rep(0, 25))
  y <- rep(c("a", "b"), each = 50)
  r <- per_class_accuracy(correct, y)
  expect_equal(r$table$accuracy, c(0.8, 0.5))
  expect_equal(r$statistic, unname(suppressWarnings(prop.test(c(40, 25), c(50, 50), correct = FALSE))$statistic))
  expect_equal(r$table$low[1], accuracy_interval(correct[1:50])$low)
  expect_error(per_class_accuracy(correct, y[-1]), "paired")
})

test_that("the interval method is checked, and classes are listed in Python's order", {
  correct <- c(rep(1, 40), rep(0, 10), rep(1, 25), rep(0, 25), rep(1, 5), rep(0, 5))
  y <- rep(c(2, 10, 1), c(50, 50, 10))
  expect_error(per_class_accuracy(correct, y, method = "foo"),
               "method must be one of 'wilson', 'clopper-pearson', 'agresti-coull'; got")
  expect_error(per_class_accuracy(correct, y, method = "Wilson"), "Did you mean 'wilson'\\?")
  r <- per_class_accuracy(correct, y, method = "clopper-pearson")
  expect_equal(r$table$class, c("1", "2", "10"))  # numbers numerically, as np.unique
  expect_equal(r$table$accuracy, c(0.5, 0.8, 0.5))
  with_locale_collation(
    expect_equal(per_class_accuracy(correct, rep(c("madry", "TRADES", "b"), c(50, 50, 10)))$table$class,
                 c("TRADES", "b", "madry")))
})

test_that("missing labels are refused, not dropped", {
  correct <- c(TRUE, FALSE, TRUE, TRUE, FALSE, TRUE)
  for (y in list(c(0, 0, NA, 1, 1, 1), c("a", "a", NA, "b", "b", "b"),
                 factor(c("a", "a", NA, "b", "b", "b")), c(0, 0, NaN, 1, 1, 1))) {
    expect_error(per_class_accuracy(correct, y), "missing labels; got 1 missing value.*position 3")
  }
})

test_that("a factor given as outcomes is described by its values", {
  expect_error(per_class_accuracy(factor(c("TRUE", "FALSE")), c(0, 1)), '"TRUE" "FALSE"')
})
